/**
 * What happens to a task whose pool child died under it (WorkerLostError), as `celery/worker/request.py
 * on_failure` decides: with acksLate and rejectOnWorkerLost the message is given back (reject with requeue) to run
 * again; otherwise the task is FAILURE WorkerLostError.
 *
 * Celery requeues a task that kills its child forever (celery#9082): a poison task (one that always runs out of
 * memory, or calls `process.exit()`) then loops. Here each worker counts the deaths per task id, and past
 * `maxRequeues` the task is stored FAILURE and rejected without requeue (dead-lettered where the broker keeps dead
 * letters). The count lives in this worker's memory: another worker, or this one after a restart, starts from zero.
 * Deaths of the whole worker process (kill -9, OOM) are counted durably instead, through the journal (journal.ts),
 * and checked by the executor when the task is delivered again, whatever the pool.
 */
import type { WorkerLostError } from '../errors.js';

/** Default number of times a task may be requeued after losing its child before it is dead-lettered. */
export const DEFAULT_MAX_WORKER_LOST_REQUEUES = 3;

/** Ids remembered at most (oldest forgotten first), so a long-lived worker does not grow without bound. */
const MAX_TRACKED = 10_000;

export type WorkerLostDecision = 'requeue' | 'dead-letter' | 'fail';

export class WorkerLostTracker {
  private readonly deaths = new Map<string, number>();

  constructor(readonly maxRequeues: number = DEFAULT_MAX_WORKER_LOST_REQUEUES) {}

  /** Decides for a task that lost its child; counts the death when it will be requeued. */
  decide(taskId: string, settings: { acksLate: boolean; rejectOnWorkerLost: boolean }): WorkerLostDecision {
    if (!settings.acksLate || !settings.rejectOnWorkerLost) return 'fail';
    const deaths = (this.deaths.get(taskId) ?? 0) + 1;
    this.deaths.delete(taskId);
    if (deaths > this.maxRequeues) return 'dead-letter';
    this.deaths.set(taskId, deaths);
    if (this.deaths.size > MAX_TRACKED) this.deaths.delete(this.deaths.keys().next().value!);
    return 'requeue';
  }

  /** Deaths counted for a task (for logs). */
  count(taskId: string): number {
    return this.deaths.get(taskId) ?? 0;
  }

  /** Forgets a task that finished one way or another. */
  forget(taskId: string): void {
    if (this.deaths.size > 0) this.deaths.delete(taskId);
  }
}

export function isWorkerLost(error: unknown): error is WorkerLostError {
  return error instanceof Error && error.name === 'WorkerLostError';
}
