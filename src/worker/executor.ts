/**
 * Runs accepted requests through the pool and settles them, as `celery/worker/request.py` does: ack early (when
 * the pool takes the task) or late (after the outcome is recorded), send task events, and hand the outcome to the
 * shared tracer (`app/tracer.ts`), which stores states, publishes callbacks and retries and fires hooks and task
 * handlers in Celery's order.
 */
import type { Celery } from '../app/celery.js';
import {
  emitHook,
  exceptionRepr,
  traceBeforeStart,
  traceOutcome,
  tracePrerun,
  type TraceResult,
} from '../app/tracer.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Broker, Delivery } from '../brokers/broker.js';
import { isCeleriacError, TaskRevokedError, type Reject, type Retry } from '../errors.js';
import { disabledDispatcher, type EventDispatcher } from '../events/dispatcher.js';
import { Batcher } from '../lifecycle/async.js';
import type { Logger } from '../lifecycle/logger.js';
import { formatTraceback } from '../protocol/exception.js';
import { saferepr } from '../protocol/pyrepr.js';
import { States, type JsonValue } from '../types.js';
import type { Pool, PoolOutcome } from './pools/pool.js';
import type { Request } from './request.js';
import { WorkerIO } from './worker-io.js';
import { WorkerLostTracker } from './worker-lost.js';

export interface ExecutorDeps {
  readonly app: Celery;
  readonly broker: Broker;
  readonly backend: ResultBackend;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly hostname: string;
  /** Where task events go (a no-op unless the worker sends task events). */
  readonly events?: EventDispatcher;
  /** Called whenever a request finishes (settled), so the consumer can account for it. */
  readonly onDone: (request: Request) => void;
  /** Requeues allowed after a task lost its pool child (worker-lost.ts). */
  readonly maxWorkerLostRequeues?: number;
}

/** How many recently succeeded ids `workerDeduplicateSuccessfulTasks` remembers in memory (Celery: 1000). */
const SUCCESSFUL_MEMORY = 1000;

export class Executor {
  private readonly waiting: Request[] = [];
  private readonly running = new Set<Request>();
  private readonly acks: Batcher<Request>;
  private idleWaiters: (() => void)[] = [];
  /** Tasks finished since start (Celery's `processed` in heartbeats). */
  processed = 0;
  private accepting = true;
  readonly io: WorkerIO;
  private readonly events: EventDispatcher;
  private readonly successful = new Set<string>();
  private readonly workerLost: WorkerLostTracker;

  constructor(private readonly deps: ExecutorDeps) {
    this.acks = new Batcher((requests) => deps.broker.ack(requests.map((r) => r.delivery)));
    this.io = new WorkerIO(deps);
    this.events = deps.events ?? disabledDispatcher;
    this.workerLost = new WorkerLostTracker(deps.maxWorkerLostRequeues);
  }

  /** The pool grew or shrank: start what now fits. */
  capacityChanged(): void {
    this.pump();
  }

  get active(): number {
    return this.running.size;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Queues a request; it starts as soon as the pool has a free slot. */
  submit(request: Request): void {
    this.waiting.push(request);
    this.pump();
  }

  /** Drops queued requests whose deliveries the broker lost (it delivers them again); returns how many. */
  discard(lost: ReadonlySet<Delivery>): number {
    const before = this.waiting.length;
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const request = this.waiting[i]!;
      if (lost.has(request.delivery)) {
        request.settled = true;
        this.waiting.splice(i, 1);
        this.deps.onDone(request);
      }
    }
    return before - this.waiting.length;
  }

  /** Stops starting queued requests and returns them (to be requeued). */
  takeWaiting(): Request[] {
    this.accepting = false;
    return this.waiting.splice(0);
  }

  /** Requests that are running now. */
  runningRequests(): Request[] {
    return [...this.running];
  }

  /** Resolves once nothing runs and every pending ack is flushed. */
  async idle(): Promise<void> {
    if (this.running.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.flush();
  }

  /** Writes pending acknowledgements now. */
  flush(): Promise<void> {
    return this.acks.flush().catch(() => undefined);
  }

  /** Whether task events for this request are sent (events on, and the task sends them). */
  sendsEvents(request: Request): boolean {
    return this.events.enabled && request.settings.sendEvents !== false;
  }

  /** Sends a task event for a request, if events are on and the task sends them. */
  event(request: Request, type: string, fields: Record<string, JsonValue> = {}): void {
    if (!this.events.enabled || !request.settings.sendEvents) return;
    void this.events.send(type, { uuid: request.id, ...fields });
  }

  private pump(): void {
    while (this.accepting && this.running.size < this.deps.pool.concurrency && this.waiting.length > 0) {
      const request = this.waiting.shift()!;
      this.running.add(request);
      void this.execute(request)
        .catch((error: unknown) => this.internalError(request, error))
        .finally(() => {
          this.running.delete(request);
          this.processed++;
          this.deps.onDone(request);
          if (this.running.size === 0) {
            for (const resolve of this.idleWaiters.splice(0)) resolve();
          }
          this.pump();
        });
    }
  }

  /** A bug in our own bookkeeping must not lose the message silently: dead-letter it with a reason. */
  private async internalError(request: Request, error: unknown): Promise<void> {
    this.deps.logger.error(
      { err: error },
      `Internal error while processing ${request.label}: ${(error as Error).message}`,
    );
    await this.reject(request, false, 'internal-error');
  }

  ack(request: Request): Promise<void> {
    if (request.settled) return Promise.resolve();
    request.settled = true;
    return this.acks.add(request).catch((error: unknown) => {
      this.deps.logger.error(
        { err: error },
        `Could not acknowledge ${request.label}: ${(error as Error).message}`,
      );
    });
  }

  async reject(request: Request, requeue: boolean, reason: string): Promise<void> {
    if (request.settled) return;
    request.settled = true;
    try {
      await this.deps.broker.reject(request.delivery, { requeue, reason });
    } catch (error) {
      this.deps.logger.error(
        { err: error },
        `Could not reject ${request.label}: ${(error as Error).message}`,
      );
    }
  }

  /** Records a request that will not run (expired or revoked) as REVOKED and acknowledges it. */
  async revoke(request: Request, reason: 'expired' | 'revoked'): Promise<void> {
    this.deps.logger.info(`Discarding revoked task: ${request.label} (${reason})`);
    request.finished = true;
    const error = new TaskRevokedError(reason);
    (error as { pyArgs?: unknown[] }).pyArgs = [reason];
    const expired = reason === 'expired';
    this.event(request, 'task-revoked', { terminated: false, signum: null, expired });
    await this.io.store(request, States.REVOKED, error);
    await this.ack(request);
    await emitHook(this.deps.app.hooks, this.deps.logger, 'taskRevoked', {
      taskId: request.id,
      taskName: request.name,
      terminated: false,
      expired,
      signum: null,
      request: request.context(),
    });
  }

  /**
   * `workerDeduplicateSuccessfulTasks`: a redelivered late-ack task that already succeeded is acknowledged and
   * skipped (`celery/app/trace.py:396`), by this worker's memory of recent successes or by its stored state.
   */
  /** The cheap part of `alreadySucceeded`, so that the common case awaits nothing. */
  private mayHaveSucceeded(request: Request): boolean {
    const { conf } = this.deps.app;
    return (
      conf.workerDeduplicateSuccessfulTasks &&
      request.settings.acksLate &&
      request.delivery.redelivered &&
      Boolean(conf.backend)
    );
  }

  private async alreadySucceeded(request: Request): Promise<boolean> {
    const { backend, logger } = this.deps;
    if (!this.mayHaveSucceeded(request)) return false;
    let done = this.successful.has(request.id);
    if (!done) {
      try {
        done = (await backend.get(request.id))?.status === States.SUCCESS;
      } catch {
        return false;
      }
    }
    if (done) logger.info(`Task ${request.label} ignored: task already completed successfully.`);
    return done;
  }

  private async execute(request: Request): Promise<void> {
    const { pool, hostname, logger } = this.deps;
    if (request.isExpired(Date.now())) {
      await this.revoke(request, 'expired');
      return;
    }
    if (this.mayHaveSucceeded(request) && (await this.alreadySucceeded(request))) {
      await this.ack(request);
      return;
    }
    const { settings } = request;
    request.startedAt = performance.now();
    if (!settings.acksLate) void this.ack(request);
    this.event(request, 'task-started');
    const io = this.io.forRequest(request);
    const target = { name: request.name, handlers: request.task.options, request: request.context() };
    if (this.deps.app.hooks.has('taskPrerun')) await tracePrerun(io, target);
    // As celery/app/trace.py: STARTED is stored after task_prerun and before before_start and the task body, so
    // both see it. Pools running in this process know the pid now; threads and prefork report theirs on start.
    const inProcess = pool.kind === 'async' || pool.kind === 'solo';
    if (inProcess && this.io.stores(request, States.STARTED)) {
      await this.io.store(request, States.STARTED, { pid: process.pid, hostname });
    }
    if (target.handlers.beforeStart) await traceBeforeStart(io, target);
    const limits = request.timeLimits;
    const outcome = await pool.run({
      request: target.request,
      task: request.task,
      timeLimit: limits.hard,
      softTimeLimit: limits.soft,
      updateState: (state, meta) => this.io.updateState(request, state, meta),
      sendEvent: async (type, fields) => this.event(request, type, fields),
      ...(inProcess
        ? {}
        : { onStart: (pid: number) => void this.io.store(request, States.STARTED, { pid, hostname }) }),
    });
    request.finished = true;
    const runtime = Number(((performance.now() - request.startedAt) / 1000).toFixed(6));
    const lost = this.workerLostDecision(request, outcome);
    if (lost === 'requeue') {
      logger.warn(
        `Worker running ${request.label} was lost; the task goes back to its queue (rejectOnWorkerLost)`,
      );
      await this.reject(request, true, 'worker-lost');
      return;
    }
    if (lost === 'dead-letter') {
      logger.error(
        `Task ${request.label} lost its pool child more than ${this.workerLost.maxRequeues} times: ` +
          'stored as FAILURE and dead-lettered instead of requeued again',
      );
      // Dead-letter first, so that whoever sees the FAILURE also finds the message in the dead letters.
      await this.reject(request, false, 'worker-lost-requeue-limit');
    }
    const result = await traceOutcome(io, target, outcome, runtime);
    await this.settle(request, result, runtime);
  }

  /**
   * A task whose thread or process died: with late acks and `rejectOnWorkerLost` it goes back to its queue, up to
   * the requeue cap (worker-lost.ts); otherwise it fails with WorkerLostError.
   */
  private workerLostDecision(
    request: Request,
    outcome: PoolOutcome,
  ): 'requeue' | 'dead-letter' | 'fail' | null {
    if (outcome.ok) {
      this.workerLost.forget(request.id);
      return null;
    }
    if (!isCeleriacError(outcome.error, 'WorkerLostError')) return null;
    return this.workerLost.decide(request.id, request.settings);
  }

  /** Acknowledges or rejects the delivery for the recorded outcome, then sends the task event. */
  private async settle(request: Request, result: TraceResult, runtime: number): Promise<void> {
    const { settings } = request;
    switch (result.state) {
      case States.SUCCESS:
        if (this.deps.app.conf.workerDeduplicateSuccessfulTasks) this.remember(request.id);
        if (!result.stored && settings.acksLate) await this.reject(request, true, 'result-store-failed');
        else await this.ack(request);
        if (this.sendsEvents(request)) {
          this.event(request, 'task-succeeded', { result: saferepr(result.value, 1024), runtime });
        }
        return;
      case States.RETRY: {
        await this.ack(request);
        const exc = (result.value as Retry).exc;
        this.event(request, 'task-retried', {
          exception: exc == null ? 'None' : exceptionRepr(exc),
          traceback: formatTraceback(exc) ?? '',
        });
        return;
      }
      case States.IGNORED:
        await this.ack(request);
        return;
      case States.REJECTED: {
        const reject = result.value as Reject;
        if (request.settled) {
          // As in Celery, Reject only means something with late acks: the message is already gone.
          this.deps.logger.warn(
            `${request.label} raised Reject, but its message was acknowledged when it started: use acksLate for Reject to take effect`,
          );
        }
        await this.reject(request, reject.requeue, reject.reason || 'rejected');
        this.event(request, 'task-rejected', { requeue: reject.requeue });
        await emitHook(this.deps.app.hooks, this.deps.logger, 'taskRejected', {
          taskId: request.id,
          reason: reject.reason || 'rejected',
          requeue: reject.requeue,
        });
        return;
      }
      case States.FAILURE:
        if (settings.acksLate) {
          if (!result.stored) await this.reject(request, true, 'result-store-failed');
          else if (settings.acksOnFailureOrTimeout) await this.ack(request);
          else await this.reject(request, false, 'task-failed');
        }
        this.event(request, 'task-failed', {
          exception: exceptionRepr(result.value),
          traceback: formatTraceback(result.value) ?? '',
        });
        return;
    }
  }

  private remember(id: string): void {
    this.successful.add(id);
    if (this.successful.size > SUCCESSFUL_MEMORY) {
      this.successful.delete(this.successful.values().next().value!);
    }
  }
}
