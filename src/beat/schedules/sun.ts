/**
 * Where the sun is, computed in-house with NOAA's solar calculator equations (the NOAA Global Monitoring
 * Laboratory's "General Solar Position Calculations", after Meeus, "Astronomical Algorithms"): declination and the
 * equation of time for an instant, and from them the times the sun's centre crosses a given altitude. Accurate to
 * about a minute between latitudes ±72°, which is what Celery's `solar` (through ephem) offers too.
 */

const DAY = 86_400_000;
const rad = (deg: number): number => (deg * Math.PI) / 180;
const deg = (r: number): number => (r * 180) / Math.PI;

interface SunPosition {
  /** Declination, radians. */
  declination: number;
  /** Equation of time, minutes. */
  equationOfTime: number;
}

/** Declination and equation of time at an instant (NOAA's spreadsheet, column by column). */
export function sunPosition(ms: number): SunPosition {
  const julianDay = ms / DAY + 2_440_587.5;
  const t = (julianDay - 2_451_545) / 36_525;
  const meanLongitude = (280.46646 + t * (36_000.76983 + t * 0.0003032)) % 360;
  const meanAnomaly = 357.52911 + t * (35_999.05029 - 0.0001537 * t);
  const eccentricity = 0.016708634 - t * (0.000042037 + 0.0000001267 * t);
  const m = rad(meanAnomaly);
  const centre =
    Math.sin(m) * (1.914602 - t * (0.004817 + 0.000014 * t)) +
    Math.sin(2 * m) * (0.019993 - 0.000101 * t) +
    Math.sin(3 * m) * 0.000289;
  const omega = rad(125.04 - 1934.136 * t);
  const apparentLongitude = meanLongitude + centre - 0.00569 - 0.00478 * Math.sin(omega);
  const meanObliquity = 23 + (26 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60) / 60;
  const obliquity = rad(meanObliquity + 0.00256 * Math.cos(omega));
  const declination = Math.asin(Math.sin(obliquity) * Math.sin(rad(apparentLongitude)));
  const y = Math.tan(obliquity / 2) ** 2;
  const l0 = rad(meanLongitude);
  const equationOfTime =
    4 *
    deg(
      y * Math.sin(2 * l0) -
        2 * eccentricity * Math.sin(m) +
        4 * eccentricity * y * Math.sin(m) * Math.cos(2 * l0) -
        0.5 * y * y * Math.sin(4 * l0) -
        1.25 * eccentricity * eccentricity * Math.sin(2 * m),
    );
  return { declination, equationOfTime };
}

/** Which crossing of the day: the sun rising through the altitude, its highest point, or setting through it. */
export type Crossing = 'rising' | 'transit' | 'setting';

/**
 * The instant of the crossing on the solar day whose noon is near `dayStart + 12h - longitude/15 h` (UTC), or null
 * when the sun does not reach that altitude that day (polar day or night). Refined three times, each time with the
 * sun's position at the previous estimate.
 */
export function crossingOn(
  dayStart: number,
  crossing: Crossing,
  altitude: number,
  latitude: number,
  longitude: number,
): number | null {
  let estimate = dayStart + (720 - 4 * longitude) * 60_000;
  for (let i = 0; i < 3; i++) {
    const { declination, equationOfTime } = sunPosition(estimate);
    const noon = dayStart + (720 - 4 * longitude - equationOfTime) * 60_000;
    if (crossing === 'transit') {
      estimate = noon;
      continue;
    }
    const lat = rad(latitude);
    const cosHourAngle =
      (Math.sin(rad(altitude)) - Math.sin(lat) * Math.sin(declination)) /
      (Math.cos(lat) * Math.cos(declination));
    if (cosHourAngle < -1 || cosHourAngle > 1) return null;
    const minutes = 4 * deg(Math.acos(cosHourAngle));
    estimate = noon + (crossing === 'rising' ? -minutes : minutes) * 60_000;
  }
  return Math.round(estimate);
}
