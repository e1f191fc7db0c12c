/**
 * The pool seam: where task functions run. `async` and `solo` run them in this event loop; `threads` and
 * `prefork` (worker_threads, child processes) run them elsewhere and report back. The executor never gives a pool
 * more than `concurrency` jobs at once, and a pool never rejects: failures come back as outcomes.
 */
import type { PoolName } from '../../app/config.js';
import type { TaskRequest } from '../../app/context.js';
import type { AnyTaskFn, TaskOptions } from '../../app/task.js';
import { TaskRevokedError } from '../../errors.js';
import type { JsonValue } from '../../types.js';

export interface PoolJob {
  readonly request: TaskRequest;
  readonly task: { readonly name: string; readonly fn: AnyTaskFn; readonly options: Readonly<TaskOptions> };
  /** Seconds, or null. */
  readonly timeLimit: number | null;
  readonly softTimeLimit: number | null;
  /** Stores a custom state for the running task (`updateState`). */
  readonly updateState: (state: string, meta: unknown) => Promise<void>;
  /** Sends a custom event for the running task (`sendEvent`); pools running tasks elsewhere relay it. */
  readonly sendEvent?: (type: string, fields: Readonly<Record<string, JsonValue>>) => Promise<void>;
  /** Called when the job starts running, with the pid of the process running it. */
  readonly onStart?: (pid: number) => void;
}

export type PoolOutcome =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** What `stats()` reports about a pool, with Celery's key names where Celery has one (`max-concurrency`, ...). */
export type PoolInfo = Record<string, JsonValue>;

export interface Pool {
  /** The `-P` name of a built-in pool, or the name a custom pool was given in `new Worker(app, { pools })`. */
  readonly kind: PoolName | (string & {});
  /** Jobs it runs at once now (for threads and prefork: its current number of threads or processes). */
  readonly concurrency: number;
  start(): Promise<void>;
  run(job: PoolJob): Promise<PoolOutcome>;
  /**
   * Stops the pool; with `cold`, without waiting for running jobs (their outcomes never arrive: the worker has
   * given their messages back). Idempotent.
   */
  stop(options?: { cold?: boolean }): Promise<void>;
  /** Adds `n` threads or processes (pools that can resize: threads, prefork). */
  grow?(n: number): void;
  /** Removes `n`: idle ones at once, busy ones after their task. */
  shrink?(n: number): void;
  info?(): PoolInfo;
  /**
   * Ends the running job of task `taskId` (remote control `revoke(terminate=True)`), the pool's way: the async pool
   * aborts its signal and abandons it, threads and prefork kill the thread or process (with `signal` for a process)
   * and start another. The job's outcome is then a failure with `TaskRevokedError('terminated')`. Returns whether a
   * job of that task was running.
   */
  terminate?(taskId: string, signal: string): boolean;
}

/** The outcome of a terminated job. */
export function terminatedOutcome(): PoolOutcome {
  const error = new TaskRevokedError('terminated');
  (error as { pyArgs?: unknown[] }).pyArgs = ['terminated'];
  return { ok: false, error };
}
