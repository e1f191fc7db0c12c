import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Crontab } from './crontab.js';
import { crontab } from './crontab.js';

interface Fixture {
  crontab: { fields: string[]; last: string; next: string | { error: string } }[];
}
const fixture = JSON.parse(
  readFileSync(new URL('../../../test/golden/fixtures/beat-schedules.json', import.meta.url), 'utf8'),
) as Fixture;

function fromFields(
  [minute, hour, dayOfWeek, dayOfMonth, monthOfYear]: string[],
  timezone?: string,
): Crontab {
  return crontab({ minute, hour, dayOfWeek, dayOfMonth, monthOfYear, ...(timezone ? { timezone } : {}) });
}

const at = (iso: string): Date => new Date(iso);
const next = (c: Crontab, iso: string): string => c.nextRunAfter(at(iso)).toISOString();

describe('crontab: next run, as Celery 5.2.6 computes it (UTC)', () => {
  for (const { fields, last, next: expected } of fixture.crontab) {
    it(`${fields.join(' ')} after ${last}`, () => {
      if (typeof expected === 'string') expect(next(fromFields(fields), last)).toBe(expected);
      // Celery finds an impossible date at run time ("unable to rollover"); we refuse it at construction.
      else expect(() => fromFields(fields)).toThrow(/never falls in monthOfYear "2"/);
    });
  }
});

describe('crontab fields', () => {
  it.each([
    [{ minute: '*/15' }, 'minutes', [0, 15, 30, 45]],
    [{ hour: '22-2' }, 'hours', [0, 1, 2, 22, 23]],
    [{ hour: '22-2/2' }, 'hours', [0, 2, 22]],
    [{ dayOfWeek: 'mon-fri' }, 'daysOfWeek', [1, 2, 3, 4, 5]],
    [{ dayOfWeek: 'fri-mon' }, 'daysOfWeek', [0, 1, 5, 6]],
    [{ dayOfWeek: 7 }, 'daysOfWeek', [0]],
    [{ dayOfWeek: '5-7' }, 'daysOfWeek', [0, 5, 6]],
    [{ dayOfWeek: 'Monday,wednesday' }, 'daysOfWeek', [1, 3]],
    [{ dayOfMonth: '*/10' }, 'daysOfMonth', [1, 11, 21, 31]],
    [{ monthOfYear: 'jan-mar,dec' }, 'months', [1, 2, 3, 12]],
    [{ monthOfYear: '2-12/2' }, 'months', [2, 4, 6, 8, 10, 12]],
    [{ minute: [0, 30], hour: 4 }, 'minutes', [0, 30]],
  ] as const)('%o gives %s %o', (options, key, values) => {
    expect(crontab(options)[key]).toEqual(values);
  });

  it.each([
    [{ minute: '61' }, 'crontab minute "61" is out of range 0-59'],
    [{ minute: 61 }, 'crontab minute "61" is out of range 0-59'],
    [{ hour: '0-24' }, `crontab hour "24" is out of range 0-23`],
    [{ dayOfMonth: '0' }, `crontab dayOfMonth (Celery's day_of_month) "0" is out of range 1-31`],
    [{ dayOfWeek: '8' }, 'is out of range 0-6 (Sunday is 0 or 7'],
    [{ monthOfYear: 'foo' }, 'crontab monthOfYear "foo" is invalid: "foo" is not a number or a name'],
    [{ minute: '*/0' }, 'the step "/0" must be a positive whole number'],
    [{ minute: '5/15' }, 'a step needs a range or *'],
    [{ minute: '1,,2' }, 'an empty part between commas'],
    [{ minute: '' }, 'it is empty'],
    [{ minute: '-5' }, 'is not a number, a name or a range'],
    [{ minuets: '5' }, 'crontab() has no field "minuets"'],
    [{ timezone: 'Europe/Pari' }, 'crontab timezone "Europe/Pari" is not a known time zone'],
    [{ dayOfMonth: 31, monthOfYear: '4,6' }, 'never falls in monthOfYear "4,6"'],
  ])('%o fails: %s', (options, message) => {
    expect(() => crontab(options as never)).toThrow(message);
  });

  it('reads a five-field cron line in cron order', () => {
    const c = crontab('0 4 1-7 jan mon');
    expect([c.minutes, c.hours, c.daysOfMonth, c.months, c.daysOfWeek]).toEqual([
      [0],
      [4],
      [1, 2, 3, 4, 5, 6, 7],
      [1],
      [1],
    ]);
    expect(() => crontab('0 4 *')).toThrow('must have five fields');
  });

  it('prints as Celery does', () => {
    expect(String(crontab({ minute: 0, hour: 4 }))).toBe('<crontab: 0 4 * * * (m/h/d/dM/MY)>');
  });
});

describe('crontab isDue (Celery schedstate)', () => {
  const daily = crontab({ minute: 0, hour: 4 });
  it('is due once the run after the last one has come, and says when to check next', () => {
    expect(daily.isDue(at('2024-01-01T04:00:00Z'), at('2024-01-02T03:59:00Z'))).toEqual({
      isDue: false,
      next: 60,
    });
    expect(daily.isDue(at('2024-01-01T04:00:00Z'), at('2024-01-02T04:00:30Z'))).toEqual({
      isDue: true,
      next: 86_370,
    });
  });
  it('after a long downtime is due once, and then waits for the next future run', () => {
    const state = daily.isDue(at('2024-01-01T04:00:00Z'), at('2024-03-01T12:00:00Z'));
    expect(state).toEqual({ isDue: true, next: 16 * 3600 });
  });
});

describe('crontab across clock changes', () => {
  const runs = (c: Crontab, from: string, count: number): string[] => {
    const out: string[] = [];
    let date = at(from);
    for (let i = 0; i < count; i++) {
      date = c.nextRunAfter(date);
      out.push(date.toISOString());
    }
    return out;
  };

  it('Europe/Paris spring forward: 02:30 does not exist and runs once, at 03:00 CEST', () => {
    const c = crontab({ minute: 30, hour: 2, timezone: 'Europe/Paris' });
    expect(runs(c, '2024-03-30T00:00:00Z', 3)).toEqual([
      '2024-03-30T01:30:00.000Z', // 02:30 CET
      '2024-03-31T01:00:00.000Z', // 03:00 CEST, the first valid instant
      '2024-04-01T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('Europe/Paris fall back: 02:30 happens twice and runs once, at the first', () => {
    const c = crontab({ minute: 30, hour: 2, timezone: 'Europe/Paris' });
    expect(runs(c, '2024-10-26T00:00:00Z', 3)).toEqual([
      '2024-10-26T00:30:00.000Z', // 02:30 CEST
      '2024-10-27T00:30:00.000Z', // 02:30 CEST, first occurrence
      '2024-10-28T01:30:00.000Z', // 02:30 CET (not 2024-10-27T01:30Z, the repeat)
    ]);
  });

  it('America/New_York spring forward and fall back', () => {
    const spring = crontab({ minute: 30, hour: 2, timezone: 'America/New_York' });
    expect(runs(spring, '2024-03-09T12:00:00Z', 2)).toEqual([
      '2024-03-10T07:00:00.000Z',
      '2024-03-11T06:30:00.000Z',
    ]);
    const fall = crontab({ minute: 30, hour: 1, timezone: 'America/New_York' });
    expect(runs(fall, '2024-11-02T12:00:00Z', 2)).toEqual([
      '2024-11-03T05:30:00.000Z',
      '2024-11-04T06:30:00.000Z',
    ]);
  });

  it('an every-hour crontab follows elapsed time through both changes', () => {
    const c = crontab({ minute: '*/30', timezone: 'America/New_York' });
    expect(runs(c, '2024-11-03T04:59:00Z', 5)).toEqual([
      '2024-11-03T05:00:00.000Z', // 01:00 EDT
      '2024-11-03T05:30:00.000Z',
      '2024-11-03T06:00:00.000Z', // 01:00 EST
      '2024-11-03T06:30:00.000Z',
      '2024-11-03T07:00:00.000Z', // 02:00 EST
    ]);
    const hourly = crontab({ minute: 30, timezone: 'America/New_York' });
    expect(runs(hourly, '2024-03-10T06:00:00Z', 2)).toEqual([
      '2024-03-10T06:30:00.000Z',
      '2024-03-10T07:30:00.000Z',
    ]);
  });

  it('a crontab without a zone is read in the zone the app binds', () => {
    const c = crontab({ minute: 0, hour: 9 }).inTimeZone('Europe/Paris');
    expect(next(c, '2024-07-01T00:00:00Z')).toBe('2024-07-01T07:00:00.000Z');
    const own = crontab({ minute: 0, hour: 9, timezone: 'America/New_York' }).inTimeZone('Europe/Paris');
    expect(next(own, '2024-07-01T00:00:00Z')).toBe('2024-07-01T13:00:00.000Z');
  });
});

const formats = new Map<string, Intl.DateTimeFormat>();

/** An independent, brute-force reading of the rules, for the property test. */
function wallParts(
  zone: string,
  ms: number,
): { y: number; mo: number; d: number; h: number; mi: number; off: number } {
  const f =
    formats.get(zone) ??
    new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
  formats.set(zone, f);
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, Number(x.value)]));
  const off = Date.UTC(p.year!, p.month! - 1, p.day, p.hour, p.minute) - ms;
  return { y: p.year!, mo: p.month!, d: p.day!, h: p.hour!, mi: p.minute!, off };
}

function matchesWall(c: Crontab, w: { y: number; mo: number; d: number; h: number; mi: number }): boolean {
  const dow = new Date(Date.UTC(w.y, w.mo - 1, w.d)).getUTCDay();
  return (
    c.minutes.includes(w.mi) &&
    c.hours.includes(w.h) &&
    c.months.includes(w.mo) &&
    c.daysOfMonth.includes(w.d) &&
    c.daysOfWeek.includes(dow)
  );
}

function refFires(c: Crontab, ms: number): boolean {
  const everyHour = c.hours.length === 24;
  const w = wallParts(c.timezone, ms);
  const before = wallParts(c.timezone, ms - 60_000).off;
  if (!everyHour && w.off > before) {
    for (let wall = ms + before; wall < ms + w.off; wall += 60_000) {
      const d = new Date(wall);
      const skipped = {
        y: d.getUTCFullYear(),
        mo: d.getUTCMonth() + 1,
        d: d.getUTCDate(),
        h: d.getUTCHours(),
        mi: d.getUTCMinutes(),
      };
      if (matchesWall(c, skipped)) return true;
    }
  }
  if (!matchesWall(c, w)) return false;
  if (everyHour) return true;
  const earlier = wallParts(c.timezone, ms - 3 * 3_600_000).off;
  return !(earlier > w.off && wallParts(c.timezone, ms - (earlier - w.off)).off === earlier);
}

const subset = (min: number, max: number) =>
  fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 4 });

describe('crontab properties', () => {
  it('nextRunAfter is later, monotone, a run, and the first run (brute force over the minutes between)', () => {
    fc.assert(
      fc.property(
        fc.record({
          minute: fc.oneof(subset(0, 59), fc.constant('*'), fc.constantFrom('*/15', '*/7', '0')),
          hour: fc.oneof(subset(0, 23), fc.constant('*'), fc.constantFrom('1-3', '22-2')),
          dayOfWeek: fc.oneof(fc.constant('*'), subset(0, 6)),
          dayOfMonth: fc.oneof(fc.constant('*'), fc.constant('*'), subset(1, 28)),
          timezone: fc.constantFrom('UTC', 'Europe/Paris', 'America/New_York'),
        }),
        // Around the 2024 clock changes of both zones, and anywhere.
        fc.oneof(
          fc.integer({ min: Date.UTC(2024, 2, 8), max: Date.UTC(2024, 3, 2) }),
          fc.integer({ min: Date.UTC(2024, 9, 25), max: Date.UTC(2024, 10, 5) }),
          fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }),
        ),
        fc.integer({ min: 0, max: 3 * 86_400_000 }),
        (options, start, step) => {
          const c = crontab(options);
          const first = c.nextRunAfter(new Date(start)).getTime();
          const second = c.nextRunAfter(new Date(start + step)).getTime();
          expect(first).toBeGreaterThan(start);
          expect(second).toBeGreaterThanOrEqual(first);
          expect(first % 60_000).toBe(0);
          expect(refFires(c, first)).toBe(true);
          if (first - start <= 2 * 86_400_000) {
            for (let t = Math.floor(start / 60_000) * 60_000 + 60_000; t < first; t += 60_000)
              expect(refFires(c, t), new Date(t).toISOString()).toBe(false);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
