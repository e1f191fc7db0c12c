/**
 * Periodic task entries as the app holds them (Celery's `beat_schedule` and `app.add_periodic_task`). The app only
 * stores them; beat/ validates them (all at once, at load) and runs them. Schedules are known here by their shape,
 * so that app/ does not depend on beat/ (layers point down).
 */
import type { JsonValue } from '../types.js';

/** What beat needs of a schedule: `crontab()`, `solar()` and `interval()` from celeriac all have it. */
export interface ScheduleLike {
  nextRunAfter(date: Date): Date;
  isDue(lastRunAt: Date, now: Date): { readonly isDue: boolean; readonly next: number };
  definition(): string;
  inTimeZone(zone: string): ScheduleLike;
}

/** What beat does about runs missed while no beat was running (or while leadership moved). */
export type CatchUp = 'once' | 'skip' | 'all';

/** One entry of `beatSchedule`: `{ task, schedule, args, kwargs, options, relative }` as Celery, plus catch-up. */
export interface PeriodicTaskEntry {
  /** The task name, as registered (`tasks.add`) or as another app (a Python one) registers it. */
  task: string;
  /** Seconds (an interval), or `crontab()`, `solar()`, `interval()`. */
  schedule: number | ScheduleLike;
  args?: readonly JsonValue[];
  kwargs?: Readonly<Record<string, JsonValue>>;
  /** Calling options (`queue`, `priority`, `expires`, `headers`...), camelCase or Celery's snake_case. */
  options?: Readonly<Record<string, unknown>>;
  /** For a number of seconds: truncate due times to the interval's resolution (Celery's `relative`). */
  relative?: boolean;
  /** Missed runs: `once` (default, as Celery: one run, then the schedule goes on), `skip`, or `all`. */
  catchUp?: CatchUp;
  /** With `all`: at most this many missed runs are sent (default 100); the rest are dropped, with a warning. */
  catchUpLimit?: number;
  /** With `skip`: a run later than this many seconds counts as missed and is not sent (default 1). */
  catchUpGrace?: number;
  /** The task is not registered in this app (a Python task, sent by name): skip the "unknown task" check. */
  external?: boolean;
}

/** `app.addPeriodicTask(schedule, signature, { name, ... })`: what it takes besides the schedule and signature. */
export interface AddPeriodicTaskOptions extends Omit<
  PeriodicTaskEntry,
  'task' | 'schedule' | 'args' | 'kwargs'
> {
  /** The entry's name (default: the signature's text, as Celery's `repr(sig)`). */
  name?: string;
}
