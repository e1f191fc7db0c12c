/**
 * An interval schedule: Celery's `schedule(run_every, relative)` (`celery/schedules.py`). A run is due `every`
 * seconds after the last one; with `relative`, the due time is truncated to the interval's resolution (days, hours
 * or minutes, on the wall clock of the app's zone), as Celery's `delta_resolution` does, so that an hourly entry
 * runs on the hour.
 */
import { ImproperlyConfigured } from '../../errors.js';
import { checkDate, type Schedule, type ScheduleState } from './schedule.js';
import { checkTimeZone, wallMs, Zone } from './zone.js';

export interface IntervalOptions {
  /** Seconds between runs. */
  every: number;
  /** Truncate due times to the interval's resolution (days, hours, minutes). Default false. */
  relative?: boolean;
}

const UNITS: readonly (readonly [number, number])[] = [
  [86_400_000, 3], // a day or more: truncate to the day
  [3_600_000, 4], // an hour or more: to the hour
  [60_000, 5], // a minute or more: to the minute
];

function humanSeconds(seconds: number): string {
  for (const [unit, size] of [
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ] as const) {
    if (seconds >= size) return `${(seconds / size).toFixed(2)} ${unit}${seconds / size === 1 ? '' : 's'}`;
  }
  return `${seconds.toFixed(2)} seconds`;
}

export class Interval implements Schedule {
  readonly kind = 'interval';
  readonly every: number;
  readonly relative: boolean;

  constructor(
    options: IntervalOptions,
    readonly timezone = 'UTC',
  ) {
    const every: unknown = options?.every;
    if (typeof every !== 'number' || !Number.isFinite(every) || every <= 0) {
      throw new ImproperlyConfigured(
        `interval every must be a positive number of seconds, got ${JSON.stringify(every)}`,
      );
    }
    this.every = every;
    this.relative = options.relative ?? false;
    checkTimeZone(timezone, 'interval timezone');
  }

  inTimeZone(zone: string): Interval {
    return zone === this.timezone ? this : new Interval({ every: this.every, relative: this.relative }, zone);
  }

  nextRunAfter(date: Date): Date {
    const end = checkDate(date, 'interval.nextRunAfter()').getTime() + this.every * 1000;
    if (!this.relative) return new Date(end);
    const unit = UNITS.find(([size]) => this.every * 1000 >= size);
    if (!unit) return new Date(end);
    const zone = Zone.of(this.timezone);
    const wall = zone.wall(end);
    const keep = unit[1];
    const truncated = {
      year: wall.year,
      month: wall.month,
      day: wall.day,
      hour: keep >= 4 ? wall.hour : 0,
      minute: keep >= 5 ? wall.minute : 0,
      second: 0,
    };
    return new Date(zone.firstInstant(wallMs(truncated)));
  }

  /** Celery's `schedule.is_due`: when due, the next check is one interval away. */
  isDue(lastRunAt: Date, now: Date): ScheduleState {
    const remaining =
      (this.nextRunAfter(checkDate(lastRunAt, 'interval.isDue()')).getTime() -
        checkDate(now, 'interval.isDue()').getTime()) /
      1000;
    if (remaining <= 0) return { isDue: true, next: this.every };
    return { isDue: false, next: remaining };
  }

  definition(): string {
    return `interval ${this.every}${this.relative ? ' relative' : ''}`;
  }

  toString(): string {
    return `<freq: ${humanSeconds(this.every)}>`;
  }
}

/** An interval schedule: `interval(30)` or `interval({ every: 3600, relative: true })`. */
export function interval(every: number | IntervalOptions): Interval {
  return new Interval(typeof every === 'number' ? { every } : every);
}
