/**
 * `solar(event, latitude, longitude)`: Celery's solar schedule (`celery/schedules.py` `solar`), with its nine events.
 * Celery asks ephem with the same horizons: sunrise and sunset when the sun's upper edge crosses the horizon
 * (0°34' of refraction below it, that is the centre at -0.833°), the twilights when its centre is 6°, 12° or 18°
 * below, solar noon at its highest. One difference: Celery 5.2's table gives `dusk_astronomical` a horizon of
 * +18° (a typo for -18°, so it fires in the afternoon); here it is the end of astronomical twilight, -18°.
 */
import { didYouMean, ImproperlyConfigured } from '../../errors.js';
import { checkDate, dueByNextRun, type Schedule, type ScheduleState } from './schedule.js';
import { crossingOn, type Crossing } from './sun.js';

export type SolarEvent =
  | 'dawn_astronomical'
  | 'dawn_nautical'
  | 'dawn_civil'
  | 'sunrise'
  | 'solar_noon'
  | 'sunset'
  | 'dusk_civil'
  | 'dusk_nautical'
  | 'dusk_astronomical';

const EVENTS: Readonly<Record<SolarEvent, readonly [Crossing, number]>> = {
  dawn_astronomical: ['rising', -18],
  dawn_nautical: ['rising', -12],
  dawn_civil: ['rising', -6],
  sunrise: ['rising', -0.8333],
  solar_noon: ['transit', 0],
  sunset: ['setting', -0.8333],
  dusk_civil: ['setting', -6],
  dusk_nautical: ['setting', -12],
  dusk_astronomical: ['setting', -18],
};

export const SOLAR_EVENTS = Object.keys(EVENTS) as readonly SolarEvent[];

const DAY = 86_400_000;
/** Near the poles an event can be months away; further than this, it does not happen at that place. */
const SEARCH_DAYS = 400;

export class Solar implements Schedule {
  readonly kind = 'solar';

  constructor(
    readonly event: SolarEvent,
    readonly latitude: number,
    readonly longitude: number,
  ) {
    if (!(event in EVENTS)) {
      throw new ImproperlyConfigured(
        `solar event ${JSON.stringify(event)} is not one of ${SOLAR_EVENTS.join(', ')}` +
          (typeof event === 'string' ? didYouMean(event, SOLAR_EVENTS) : ''),
      );
    }
    if (typeof latitude !== 'number' || !(latitude >= -90 && latitude <= 90))
      throw new ImproperlyConfigured(`solar latitude ${String(latitude)} is out of range -90 to 90`);
    if (typeof longitude !== 'number' || !(longitude >= -180 && longitude <= 180))
      throw new ImproperlyConfigured(`solar longitude ${String(longitude)} is out of range -180 to 180`);
    if (this.findAfter(Date.now()) === null) {
      throw new ImproperlyConfigured(
        `solar ${event} never happens at latitude ${latitude}: the sun does not reach that altitude there`,
      );
    }
  }

  /** Solar times do not depend on a time zone. */
  inTimeZone(): Solar {
    return this;
  }

  private findAfter(ms: number): number | null {
    const [crossing, altitude] = EVENTS[this.event];
    const first = Math.floor(ms / DAY) * DAY - DAY;
    for (let day = 0; day < SEARCH_DAYS; day++) {
      const at = crossingOn(first + day * DAY, crossing, altitude, this.latitude, this.longitude);
      if (at !== null && at > ms) return at;
    }
    return null;
  }

  nextRunAfter(date: Date): Date {
    const at = this.findAfter(checkDate(date, 'solar.nextRunAfter()').getTime());
    if (at === null)
      throw new ImproperlyConfigured(`${this.toString()} has no run after ${date.toISOString()}`);
    return new Date(at);
  }

  isDue(lastRunAt: Date, now: Date): ScheduleState {
    return dueByNextRun(this, checkDate(lastRunAt, 'solar.isDue()'), checkDate(now, 'solar.isDue()'));
  }

  definition(): string {
    return `solar ${this.event} ${this.latitude} ${this.longitude}`;
  }

  /** Celery's repr. */
  toString(): string {
    return `<solar: ${this.event} at latitude ${this.latitude}, longitude: ${this.longitude}>`;
  }
}

/** A solar schedule: `solar('sunset', 48.8566, 2.3522)` runs at every sunset in Paris. */
export function solar(event: SolarEvent, latitude: number, longitude: number): Solar {
  return new Solar(event, latitude, longitude);
}
