/**
 * `crontab()`: Celery's crontab schedule (`celery/schedules.py` `crontab`), read on the wall clock of a time zone.
 * As in Celery, a day must match all three of month, day of month and day of week (not cron's "either day field").
 *
 * Clock changes: a run whose wall time is skipped when clocks spring forward happens once, at the first valid
 * instant (the moment of the jump: 02:30 becomes 03:00), and when clocks fall back it runs once, at the first
 * occurrence of its wall time. That holds for crontabs with specific hours; one that runs every hour (hour `*`)
 * follows elapsed time instead, as cron's "wildcard" jobs do: nothing runs in the skipped hour, and the repeated
 * hour has its runs twice (`*\/15` still runs every 15 minutes).
 */
import { CrontabError, fieldText, parseField, type CronSpec, type CrontabField } from './crontab-fields.js';
import { checkDate, dueByNextRun, type Schedule, type ScheduleState } from './schedule.js';
import { checkTimeZone, wallMs, wallOf, Zone, type WallTime } from './zone.js';

export interface CrontabOptions {
  /** 0-59. Default `*`. */
  minute?: CronSpec | undefined;
  /** 0-23. Default `*`. */
  hour?: CronSpec | undefined;
  /** 0-6 with Sunday = 0 (7 is Sunday too), or names: `mon-fri`. Default `*`. */
  dayOfWeek?: CronSpec | undefined;
  /** 1-31. Default `*`. */
  dayOfMonth?: CronSpec | undefined;
  /** 1-12, or names: `jan-mar`. Default `*`. */
  monthOfYear?: CronSpec | undefined;
  /** IANA zone this crontab is read in; default the app's `timezone`. */
  timezone?: string;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
/** How far ahead a run is looked for; the constructor proves a run exists within it. */
const SEARCH_YEARS = 30;
const FIELDS: readonly CrontabField[] = ['minute', 'hour', 'dayOfWeek', 'dayOfMonth', 'monthOfYear'];

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export class Crontab implements Schedule {
  readonly kind = 'crontab';
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfWeek: readonly number[];
  readonly daysOfMonth: readonly number[];
  readonly months: readonly number[];
  /** The zone it is read in: its own, the app's once loaded, or UTC until then. */
  readonly timezone: string;
  /** True when the crontab names its own zone (the app's `timezone` does not replace it). */
  readonly ownZone: boolean;
  private readonly specs: Readonly<Record<CrontabField, CronSpec | undefined>>;
  private readonly sets: Readonly<Record<CrontabField, ReadonlySet<number>>>;

  constructor(options: CrontabOptions = {}, zone?: string) {
    if (typeof options !== 'object' || options === null)
      throw new CrontabError(
        'crontab() takes { minute, hour, dayOfWeek, dayOfMonth, monthOfYear } or "m h dom mon dow"',
      );
    const unknown = Object.keys(options).filter((k) => ![...FIELDS, 'timezone'].includes(k));
    if (unknown.length > 0) {
      throw new CrontabError(
        `crontab() has no field ${unknown.map((k) => `"${k}"`).join(', ')}: use minute, hour, dayOfWeek, dayOfMonth, monthOfYear, timezone`,
      );
    }
    this.specs = Object.fromEntries(FIELDS.map((f) => [f, options[f]])) as Record<
      CrontabField,
      CronSpec | undefined
    >;
    this.minutes = parseField('minute', options.minute);
    this.hours = parseField('hour', options.hour);
    this.daysOfWeek = parseField('dayOfWeek', options.dayOfWeek);
    this.daysOfMonth = parseField('dayOfMonth', options.dayOfMonth);
    this.months = parseField('monthOfYear', options.monthOfYear);
    this.sets = {
      minute: new Set(this.minutes),
      hour: new Set(this.hours),
      dayOfWeek: new Set(this.daysOfWeek),
      dayOfMonth: new Set(this.daysOfMonth),
      monthOfYear: new Set(this.months),
    };
    this.ownZone = options.timezone !== undefined;
    this.timezone = checkTimeZone(options.timezone ?? zone ?? 'UTC', 'crontab timezone');
    this.checkReachable();
  }

  /** Celery finds an impossible date (31 February) at run time, after 2,000 roll-overs; we find it here. */
  private checkReachable(): void {
    const possible = this.months.some((month) =>
      this.daysOfMonth.some((day) => day <= daysInMonth(2024, month)),
    );
    if (!possible) {
      throw new CrontabError(
        `crontab dayOfMonth "${fieldText(this.specs.dayOfMonth)}" never falls in monthOfYear ` +
          `"${fieldText(this.specs.monthOfYear)}": this crontab would never run`,
      );
    }
  }

  inTimeZone(zone: string): Crontab {
    if (this.ownZone || zone === this.timezone) return this;
    return new Crontab(this.specs, zone);
  }

  /** True when the calendar day (in the crontab's zone) is one it runs on. */
  private dayMatches(year: number, month: number, day: number): boolean {
    if (!this.sets.monthOfYear.has(month) || !this.sets.dayOfMonth.has(day)) return false;
    return this.sets.dayOfWeek.has(new Date(Date.UTC(year, month - 1, day)).getUTCDay());
  }

  /** Midnight (as a wall-time number) of the first day after `wall`'s day that the crontab runs on. */
  private nextDay(wall: WallTime): number {
    let year = wall.year;
    let month = wall.month;
    let from = wall.day + 1;
    for (let i = 0; i < SEARCH_YEARS * 12; i++) {
      if (this.sets.monthOfYear.has(month)) {
        const last = daysInMonth(year, month);
        for (const day of this.daysOfMonth) {
          if (day >= from && day <= last && this.dayMatches(year, month, day))
            return Date.UTC(year, month - 1, day);
        }
      }
      from = 1;
      month += 1;
      if (month > 12) {
        month = 1;
        year += 1;
      }
    }
    throw new CrontabError(`${this.toString()} has no run within ${SEARCH_YEARS} years`);
  }

  private matchesWall(ms: number): boolean {
    const w = wallOf(ms);
    return (
      this.dayMatches(w.year, w.month, w.day) && this.sets.hour.has(w.hour) && this.sets.minute.has(w.minute)
    );
  }

  /** At the instant clocks jumped forward: true when one of the skipped wall times is a run. */
  private firesAtGap(zone: Zone, ms: number): boolean {
    const before = zone.offset(ms - MINUTE);
    const after = zone.offset(ms);
    if (after <= before) return false;
    for (let wall = ms + before; wall < ms + after; wall += MINUTE) if (this.matchesWall(wall)) return true;
    return false;
  }

  nextRunAfter(date: Date): Date {
    checkDate(date, 'crontab.nextRunAfter()');
    const zone = Zone.of(this.timezone);
    const everyHour = this.hours.length === 24;
    const lastHour = this.hours[this.hours.length - 1]!;
    let t = Math.floor(date.getTime() / MINUTE) * MINUTE + MINUTE;
    const limit = date.getTime() + (SEARCH_YEARS + 1) * 366 * DAY;
    while (t < limit) {
      const w = zone.wall(t);
      if (!this.dayMatches(w.year, w.month, w.day)) {
        t = Math.max(zone.firstInstant(this.nextDay(w)), t + MINUTE);
        continue;
      }
      // Transitions happen on the hour or half hour; only crontabs with specific hours move a skipped run.
      if (!everyHour && zone.hasTransitions && w.minute % 15 === 0 && this.firesAtGap(zone, t))
        return new Date(t);
      if (!this.sets.hour.has(w.hour)) {
        t =
          w.hour > lastHour
            ? Math.max(zone.firstInstant(this.nextDay(w)), t + MINUTE)
            : t + (60 - w.minute) * MINUTE;
        continue;
      }
      if (!this.sets.minute.has(w.minute)) {
        const next = this.minutes.find((m) => m > w.minute);
        t += ((next ?? 60) - w.minute) * MINUTE;
        continue;
      }
      if (!everyHour && zone.isRepeat(t)) {
        t += MINUTE;
        continue;
      }
      return new Date(t);
    }
    throw new CrontabError(
      `${this.toString()} has no run within ${SEARCH_YEARS} years after ${date.toISOString()}`,
    );
  }

  isDue(lastRunAt: Date, now: Date): ScheduleState {
    return dueByNextRun(this, checkDate(lastRunAt, 'crontab.isDue()'), checkDate(now, 'crontab.isDue()'));
  }

  definition(): string {
    const sets = [this.minutes, this.hours, this.daysOfWeek, this.daysOfMonth, this.months];
    return `crontab ${sets.map((s) => s.join(',')).join(' ')} ${this.timezone}`;
  }

  /** Celery's repr: `<crontab: 0 4 * * * (m/h/d/dM/MY)>`. */
  toString(): string {
    const fields = ['minute', 'hour', 'dayOfWeek', 'dayOfMonth', 'monthOfYear'] as const;
    const text = fields.map((f) => fieldText(this.specs[f])).join(' ');
    return `<crontab: ${text} (m/h/d/dM/MY)${this.ownZone ? ` ${this.timezone}` : ''}>`;
  }
}

/**
 * A crontab schedule: `crontab({ minute: 0, hour: 4 })` (daily at 04:00), `crontab({ minute: '*\/15' })`,
 * `crontab({ hour: '9-17', dayOfWeek: 'mon-fri' })`, or a five-field cron line `crontab('0 4 * * mon-fri')`
 * (minute, hour, day of month, month, day of week: cron's order, not Celery's argument order).
 */
export function crontab(options: CrontabOptions | string = {}): Crontab {
  if (typeof options === 'string') {
    const parts = options.trim().split(/\s+/);
    if (parts.length !== 5) {
      throw new CrontabError(
        `crontab "${options}" must have five fields: minute hour day-of-month month day-of-week, as "0 4 * * *"`,
      );
    }
    const [minute, hour, dayOfMonth, monthOfYear, dayOfWeek] = parts as [
      string,
      string,
      string,
      string,
      string,
    ];
    return new Crontab({ minute, hour, dayOfMonth, monthOfYear, dayOfWeek });
  }
  return new Crontab(options);
}

/** The wall time a crontab reads an instant as (its zone's clock): for messages and tests. */
export function wallTimeIn(zone: string, date: Date): WallTime {
  return Zone.of(zone).wall(date.getTime());
}

export { wallMs };
