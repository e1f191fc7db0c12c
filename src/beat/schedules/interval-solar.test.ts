import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { interval } from './interval.js';
import { solar, type SolarEvent } from './solar.js';

const at = (iso: string): Date => new Date(iso);

describe('interval', () => {
  it('runs every N seconds after the last run; due with the next check one interval away (Celery)', () => {
    const every = interval(30);
    expect(every.nextRunAfter(at('2024-01-01T10:00:00Z')).toISOString()).toBe('2024-01-01T10:00:30.000Z');
    expect(every.isDue(at('2024-01-01T10:00:00Z'), at('2024-01-01T10:00:20Z'))).toEqual({
      isDue: false,
      next: 10,
    });
    expect(every.isDue(at('2024-01-01T10:00:00Z'), at('2024-01-01T10:05:00Z'))).toEqual({
      isDue: true,
      next: 30,
    });
  });

  it.each([
    [3600, '2024-01-01T10:20:00Z', '2024-01-01T11:00:00.000Z'],
    [5400, '2024-01-01T10:20:00Z', '2024-01-01T11:00:00.000Z'],
    [86_400, '2024-01-01T10:20:00Z', '2024-01-02T00:00:00.000Z'],
    [120, '2024-01-01T10:20:42Z', '2024-01-01T10:22:00.000Z'],
    [30, '2024-01-01T10:20:42Z', '2024-01-01T10:21:12.000Z'],
  ])('relative %i s after %s is truncated to %s (delta_resolution)', (every, last, expected) => {
    expect(interval({ every, relative: true }).nextRunAfter(at(last)).toISOString()).toBe(expected);
  });

  it('truncates relative days on the wall clock of the zone', () => {
    const daily = interval({ every: 86_400, relative: true }).inTimeZone('Europe/Paris');
    expect(daily.nextRunAfter(at('2024-07-01T10:00:00Z')).toISOString()).toBe('2024-07-01T22:00:00.000Z');
  });

  it.each([0, -5, Number.NaN, Infinity])('refuses every = %s', (every) => {
    expect(() => interval(every)).toThrow('interval every must be a positive number of seconds');
  });

  it('prints as Celery does', () => {
    expect(String(interval(30))).toBe('<freq: 30.00 seconds>');
    expect(String(interval(3600))).toBe('<freq: 1.00 hour>');
  });
});

interface SolarCase {
  event: SolarEvent;
  lat: number;
  lon: number;
  last: string;
  next: string;
}
const fixture = JSON.parse(
  readFileSync(new URL('../../../test/golden/fixtures/beat-schedules.json', import.meta.url), 'utf8'),
) as { solar: SolarCase[] };

describe('solar, against Celery 5.2.6 with ephem 4.1.4', () => {
  for (const c of fixture.solar) {
    it(`${c.event} at ${c.lat}, ${c.lon} after ${c.last}: within 10 s of ${c.next}`, () => {
      const ours = solar(c.event, c.lat, c.lon).nextRunAfter(at(c.last)).getTime();
      expect(Math.abs(ours - at(c.next).getTime())).toBeLessThan(10_000);
    });
  }

  it('orders the day: dawns, sunrise, noon, sunset, dusks', () => {
    const events: SolarEvent[] = [
      'dawn_astronomical',
      'dawn_nautical',
      'dawn_civil',
      'sunrise',
      'solar_noon',
      'sunset',
      'dusk_civil',
      'dusk_nautical',
      'dusk_astronomical',
    ];
    const times = events.map((e) => solar(e, 45, 5).nextRunAfter(at('2024-03-20T00:00:00Z')).getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('is due at the event, then waits for the next day', () => {
    const sunset = solar('sunset', 48.8566, 2.3522);
    const state = sunset.isDue(at('2024-06-20T20:00:00Z'), at('2024-06-21T20:00:00Z'));
    expect(state.isDue).toBe(true);
    expect(state.next).toBeGreaterThan(23 * 3600);
  });

  it.each([
    [['sunrize', 0, 0], 'solar event "sunrize" is not one of dawn_astronomical'],
    [['sunrise', 91, 0], 'solar latitude 91 is out of range -90 to 90'],
    [['sunrise', 0, -181], 'solar longitude -181 is out of range -180 to 180'],
  ])('%o fails: %s', (args, message) => {
    expect(() => solar(...(args as [SolarEvent, number, number]))).toThrow(message);
  });
});
