/**
 * `async` (and `solo`, with concurrency 1): tasks run in the worker's event loop, many at once, like Celery's
 * gevent pool. The soft time limit aborts the task's AbortSignal; at the hard limit the task is failed with
 * TimeLimitExceeded and abandoned (an event loop cannot stop a function), so the worker stays responsive as long
 * as tasks yield. CPU-bound tasks belong in the `threads` or `prefork` pools.
 *
 * Each task runs in its own task scope with a `failEscaped` (containment.ts): an error escaping it (thrown from a
 * timer, a rejection nobody handles, `process.exit()`) fails that task, not the worker.
 */
import type { PoolName } from '../../app/config.js';
import { invokeTask } from '../../app/trace.js';
import { SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded } from '../../errors.js';
import { deferred, type Deferred } from '../../lifecycle/async.js';
import type { Logger } from '../../lifecycle/logger.js';
import { describeError } from '../containment.js';
import { terminatedOutcome, type Pool, type PoolJob, type PoolOutcome } from './pool.js';

export class AsyncPool implements Pool {
  /** Tasks whose function has not ended (returned, thrown, or failed by an escaped error): a warm stop waits. */
  private unfinished = 0;
  private idle: Deferred<void> | undefined;
  /** How to end each running job by task id (remote control terminate). */
  private readonly terminators = new Map<string, () => void>();

  constructor(
    readonly kind: PoolName,
    readonly concurrency: number,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {}

  /**
   * One outcome per job, whichever comes first: the task's return or throw, an error escaping its flow, terminate,
   * or the hard time limit. Few promises per task (each one costs the task scope's async hooks).
   */
  run(job: PoolJob): Promise<PoolOutcome> {
    // Made when the task first reads its signal or a time limit fires: most tasks never need one.
    let lazy: AbortController | undefined;
    const controller = (): AbortController => (lazy ??= new AbortController());
    let timers: NodeJS.Timeout[] | undefined;
    const id = job.request.id;
    const label = `${job.task.name}[${id}]`;
    const outcome = deferred<PoolOutcome>();
    let settled = false;
    let ended = false;
    const settle = (result: PoolOutcome): boolean => {
      if (settled) return false;
      settled = true;
      if (timers) for (const timer of timers) clearTimeout(timer);
      this.terminators.delete(id);
      outcome.resolve(result);
      return true;
    };
    // The task's own end (or an escaped error, which may leave its function pending forever).
    const end = (result: PoolOutcome): boolean => {
      if (ended) return false;
      ended = true;
      if (--this.unfinished === 0) this.idle?.resolve();
      return settle(result);
    };
    this.unfinished += 1;
    job.onStart?.(process.pid);
    this.terminators.set(id, () => {
      // An event loop cannot stop a function: the task's signal is aborted and its outcome no longer awaited.
      controller().abort(new TaskRevokedError('terminated'));
      settle(terminatedOutcome());
    });
    invokeTask({
      name: job.task.name,
      fn: job.task.fn,
      options: job.task.options,
      request: job.request,
      get signal() {
        return controller().signal;
      },
      updateState: job.updateState,
      sendEvent: job.sendEvent,
      failEscaped: (error, how) => {
        if (!end({ ok: false, error })) return false;
        this.logger.error(
          `Task ${label} failed by ${how} outside its own flow (${describeError(error)}); the worker keeps running`,
        );
        return true;
      },
    }).then(
      (value) => end({ ok: true, value }),
      (error: unknown) => end({ ok: false, error }),
    );
    if (job.softTimeLimit !== null) {
      const soft = job.softTimeLimit;
      (timers ??= []).push(
        setTimeout(() => {
          this.logger.warn(`Soft time limit (${soft}s) exceeded for ${label}`);
          const reason = new SoftTimeLimitExceeded(`SoftTimeLimitExceeded(${soft})`);
          (reason as { pyArgs?: unknown[] }).pyArgs = [];
          controller().abort(reason);
        }, soft * 1000),
      );
    }
    if (job.timeLimit !== null) {
      const hard = job.timeLimit;
      (timers ??= []).push(
        setTimeout(() => {
          this.logger.error(
            `Hard time limit (${hard}s) exceeded for ${label}: the async pool cannot stop it, so it is abandoned` +
              ' (use the threads or prefork pool for tasks that do not yield)',
          );
          if (!controller().signal.aborted) controller().abort(new TimeLimitExceeded(String(hard)));
          const error = new TimeLimitExceeded(`TimeLimitExceeded(${hard})`);
          (error as { pyArgs?: unknown[] }).pyArgs = [hard];
          settle({ ok: false, error });
        }, hard * 1000),
      );
    }
    return outcome.promise;
  }

  terminate(taskId: string): boolean {
    const end = this.terminators.get(taskId);
    if (!end) return false;
    this.terminators.delete(taskId);
    end();
    return true;
  }

  async stop(options: { cold?: boolean } = {}): Promise<void> {
    if (options.cold || this.unfinished === 0) return;
    this.idle ??= deferred();
    await this.idle.promise;
    this.idle = undefined;
  }
}
