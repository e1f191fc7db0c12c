/**
 * `async` (and `solo`, with concurrency 1): tasks run in the worker's event loop, many at once, like Celery's
 * gevent pool. The soft time limit aborts the task's AbortSignal; at the hard limit the task is failed with
 * TimeLimitExceeded and abandoned (an event loop cannot stop a function), so the worker stays responsive as long
 * as tasks yield. CPU-bound tasks belong in the `threads` or `prefork` pools.
 */
import type { PoolName } from '../../app/config.js';
import { invokeTask } from '../../app/trace.js';
import { SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded } from '../../errors.js';
import type { Logger } from '../../lifecycle/logger.js';
import { terminatedOutcome, type Pool, type PoolJob, type PoolOutcome } from './pool.js';

export class AsyncPool implements Pool {
  private readonly running = new Set<Promise<unknown>>();
  /** How to end each running job by task id (remote control terminate). */
  private readonly terminators = new Map<string, () => void>();

  constructor(
    readonly kind: PoolName,
    readonly concurrency: number,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {}

  async run(job: PoolJob): Promise<PoolOutcome> {
    // Made when the task first reads its signal or a time limit fires: most tasks never need one.
    let lazy: AbortController | undefined;
    const controller = (): AbortController => (lazy ??= new AbortController());
    const timers: NodeJS.Timeout[] = [];
    job.onStart?.(process.pid);
    const call = invokeTask({
      name: job.task.name,
      fn: job.task.fn,
      options: job.task.options,
      request: job.request,
      get signal() {
        return controller().signal;
      },
      updateState: job.updateState,
      sendEvent: job.sendEvent,
    }).then(
      (value): PoolOutcome => ({ ok: true, value }),
      (error: unknown): PoolOutcome => ({ ok: false, error }),
    );
    this.running.add(call);
    void call.finally(() => this.running.delete(call));
    const id = job.request.id;
    const terminated = new Promise<PoolOutcome>((resolve) => {
      this.terminators.set(id, () => {
        // An event loop cannot stop a function: the task's signal is aborted and its outcome no longer awaited.
        controller().abort(new TaskRevokedError('terminated'));
        resolve(terminatedOutcome());
      });
    });
    void call.finally(() => this.terminators.delete(id));
    const label = `${job.task.name}[${job.request.id}]`;
    const limits: Promise<PoolOutcome>[] = [call, terminated];
    if (job.softTimeLimit !== null) {
      const soft = job.softTimeLimit;
      timers.push(
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
      limits.push(
        new Promise<PoolOutcome>((resolve) => {
          timers.push(
            setTimeout(() => {
              this.logger.error(
                `Hard time limit (${hard}s) exceeded for ${label}: the async pool cannot stop it, so it is abandoned` +
                  ' (use the threads or prefork pool for tasks that do not yield)',
              );
              if (!controller().signal.aborted) controller().abort(new TimeLimitExceeded(String(hard)));
              const error = new TimeLimitExceeded(`TimeLimitExceeded(${hard})`);
              (error as { pyArgs?: unknown[] }).pyArgs = [hard];
              resolve({ ok: false, error });
            }, hard * 1000),
          );
        }),
      );
    }
    try {
      return await Promise.race(limits);
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  }

  terminate(taskId: string): boolean {
    const end = this.terminators.get(taskId);
    if (!end) return false;
    this.terminators.delete(taskId);
    end();
    return true;
  }

  async stop(options: { cold?: boolean } = {}): Promise<void> {
    if (!options.cold) await Promise.allSettled([...this.running]);
  }
}
