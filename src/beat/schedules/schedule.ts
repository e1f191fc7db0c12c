/**
 * What every schedule (interval, crontab, solar) offers the scheduler: Celery's `is_due(last_run_at)` as
 * `isDue(lastRunAt, now)`, and `nextRunAfter(date)`, the first run strictly after a date. Schedules are pure values:
 * no clock of their own, no app; the time zone a crontab is read in is bound when the schedule is loaded.
 */

/** Celery's `schedstate`: whether to run now, and in how many seconds to check again. */
export interface ScheduleState {
  readonly isDue: boolean;
  /** Seconds until the next check (Celery's `next`). */
  readonly next: number;
}

export interface Schedule {
  readonly kind: 'interval' | 'crontab' | 'solar';
  /** The first time strictly after `date` at which the schedule runs (for an interval: `date` + the interval). */
  nextRunAfter(date: Date): Date;
  /**
   * Celery's `is_due`: due when the run after `lastRunAt` is not in the future; `next` is then the seconds until
   * the run after `now`, else the seconds until that run.
   */
  isDue(lastRunAt: Date, now: Date): ScheduleState;
  /** A copy read in the app's time zone, unless the schedule names its own. */
  inTimeZone(zone: string): Schedule;
  /** What defines the schedule (kind, fields, zone): a change of it resets the entry's stored state. */
  definition(): string;
  toString(): string;
}

/** `isDue` from `nextRunAfter`, for the schedules whose runs are points in time (crontab, solar). */
export function dueByNextRun(schedule: Schedule, lastRunAt: Date, now: Date): ScheduleState {
  const next = schedule.nextRunAfter(lastRunAt).getTime();
  if (next <= now.getTime()) {
    const after = schedule.nextRunAfter(now).getTime();
    return { isDue: true, next: Math.max(0, (after - now.getTime()) / 1000) };
  }
  return { isDue: false, next: (next - now.getTime()) / 1000 };
}

export function isSchedule(value: unknown): value is Schedule {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Schedule).nextRunAfter === 'function' &&
    typeof (value as Schedule).isDue === 'function' &&
    typeof (value as Schedule).definition === 'function'
  );
}

/** Rejects an invalid Date argument with a message naming the method. */
export function checkDate(date: unknown, method: string): Date {
  if (!(date instanceof Date) || Number.isNaN(date.getTime()))
    throw new TypeError(`${method} takes a valid Date, got ${String(date)}`);
  return date;
}
