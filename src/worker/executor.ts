/**
 * Runs accepted requests through the pool and settles them, as `celery/worker/request.py` does: ack early (when
 * the pool takes the task) or late (after the outcome is recorded), send task events, and hand the outcome to the
 * shared tracer (`app/tracer.ts`), which stores states, publishes callbacks and retries and fires hooks and task
 * handlers in Celery's order. Deliveries are settled through settlement.ts; where each request is, through
 * state.ts.
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
import type { Delivery } from '../brokers/broker.js';
import { isCeleriacError, WorkerLostError, type Reject, type Retry } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import type { Service } from '../lifecycle/service.js';
import { formatTraceback } from '../protocol/exception.js';
import { saferepr } from '../protocol/pyrepr.js';
import { States } from '../types.js';
import type { Pool, PoolOutcome } from './pools/pool.js';
import type { Request } from './request.js';
import type { Revokes } from './revokes.js';
import type { Settlement } from './settlement.js';
import type { State } from './state.js';
import type { TaskEvents } from './task-events.js';
import type { WorkerIO } from './worker-io.js';
import type { Journal } from './journal.js';
import { WorkerLostTracker } from './worker-lost.js';

export interface ExecutorDeps {
  readonly app: Celery;
  readonly backend: ResultBackend;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly hostname: string;
  readonly state: State;
  readonly settlement: Settlement;
  readonly events: TaskEvents;
  readonly revokes: Revokes;
  readonly io: WorkerIO;
  /** Requeues allowed after a task lost its pool child (worker-lost.ts); undefined for the default. */
  readonly maxWorkerLostRequeues: number | undefined;
  /** The durable record of started tasks (journal.ts). */
  readonly journal: Journal;
}

export class Executor implements Service {
  readonly name = 'executor';
  /** Requests waiting for a pool slot, in arrival order. */
  private readonly waiting: Request[] = [];
  private idleWaiters: (() => void)[] = [];
  private accepting = true;
  /** Set by a cold stop: whatever is still running was given back or recorded as lost. */
  private stopped = false;
  private readonly workerLost: WorkerLostTracker;
  /**
   * Redelivered late-ack requests that were running when a worker process died (the journal counted the death).
   * Every task running in that process is counted, the bystanders of a poison task too; so a suspect runs alone
   * (nothing else starts until it ends, and it starts once nothing else runs), and a further death is its own.
   */
  private readonly suspects = new WeakMap<Request, number>();
  /** The suspect running alone, if any. */
  private alone: Request | undefined;

  constructor(private readonly deps: ExecutorDeps) {
    this.workerLost = new WorkerLostTracker(deps.maxWorkerLostRequeues);
  }

  async start(): Promise<void> {}

  /**
   * A shutdown began: start nothing more from now on, synchronously, so that a task finishing while the services
   * before this one drain does not let a waiting one start (it is given back by `drain()` or `stop()`).
   */
  hold(): void {
    this.accepting = false;
  }

  /** Warm: starts nothing more, gives back what waits for a slot, and resolves once nothing runs. */
  async drain(): Promise<void> {
    this.accepting = false;
    await this.giveBackWaiting();
    await this.idle();
  }

  /**
   * Cold: gives back what waits, then what still runs. Unacknowledged ones (acksLate) go back to the broker for
   * another worker (at least once). Ones acknowledged early cannot: they are recorded as FAILURE WorkerLostError,
   * so the loss is visible rather than a task left PENDING forever.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.accepting = false;
    await this.giveBackWaiting();
    const running = [...this.deps.state.active];
    if (running.length === 0) return;
    // The pool is stopped (cold) here, ahead of its own turn in the worker's service list, so that no task given
    // back below can still report an outcome, or keep running while another worker takes its message.
    await this.deps.pool.stop({ cold: true });
    await this.deps.settlement.giveBack(
      running.filter((r) => !r.settled),
      'running task(s)',
    );
    for (const request of running) {
      if (request.fate !== 'acked') continue;
      this.deps.logger.warn(
        `Task ${request.label} was acknowledged before it ran and is lost: stored as FAILURE`,
      );
      const error = new WorkerLostError('Worker exited prematurely: cold shutdown');
      // The store policy (ignoreResult, storeErrorsEvenIfIgnored) applies; a failed write is logged there.
      await this.deps.io.store(request, States.FAILURE, error);
    }
  }

  /**
   * Ends the running requests with these ids, the pool's way (remote control `revoke(terminate=True)`); they are
   * then stored REVOKED. Returns the ids ended. Requests not running yet are left to the revoke check.
   */
  terminate(ids: readonly string[], signal: string): string[] {
    const { pool, logger } = this.deps;
    const wanted = new Set(ids);
    const ended: string[] = [];
    for (const request of [...this.deps.state.active]) {
      if (!wanted.has(request.id) || request.terminated !== null || request.finished) continue;
      if (!pool.terminate) continue;
      // Marked first: a request listed active but not handed to the pool yet is ended before it runs (execute).
      request.terminated = signal;
      pool.terminate(request.id, signal);
      logger.info(`Terminating ${request.id} (${signal})`);
      ended.push(request.id);
    }
    return ended;
  }

  /** The pool grew or shrank: start what now fits. */
  capacityChanged(): void {
    this.pump();
  }

  get active(): number {
    return this.deps.state.active.size;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Takes a request: it starts as soon as the pool has a free slot. */
  submit(request: Request): void {
    const { state, pool, journal } = this.deps;
    if (request.settings.acksLate && request.delivery.redelivered) {
      const deaths = journal.deaths(request.id);
      if (deaths > 0) this.suspects.set(request, deaths);
    }
    if (
      this.accepting &&
      this.waiting.length === 0 &&
      state.active.size < pool.concurrency &&
      this.mayStart(request)
    ) {
      this.begin(request);
      return;
    }
    state.reserve(request);
    this.waiting.push(request);
    this.pump();
  }

  /** Drops waiting requests whose deliveries the broker lost (it delivers them again); returns how many. */
  discard(lost: ReadonlySet<Delivery>): number {
    const before = this.waiting.length;
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const request = this.waiting[i]!;
      if (lost.has(request.delivery)) {
        this.waiting.splice(i, 1);
        this.deps.settlement.lost(request);
        this.deps.state.ready(request);
      }
    }
    return before - this.waiting.length;
  }

  /** Resolves once nothing runs and every pending ack is flushed. */
  async idle(): Promise<void> {
    if (this.deps.state.active.size > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await this.deps.settlement.flush();
  }

  private async giveBackWaiting(): Promise<void> {
    const waiting = this.waiting.splice(0);
    for (const request of waiting) this.leave(request);
    await this.deps.settlement.giveBack(waiting, 'prefetched message(s)');
  }

  private pump(): void {
    const { state, pool } = this.deps;
    while (
      this.accepting &&
      state.active.size < pool.concurrency &&
      this.waiting.length > 0 &&
      this.mayStart(this.waiting[0]!)
    ) {
      this.begin(this.waiting.shift()!);
    }
  }

  /** Whether a request may start now, as far as suspects go (see `suspects`): the head waits otherwise. */
  private mayStart(request: Request): boolean {
    if (this.alone) return false;
    return !this.suspects.has(request) || this.deps.state.active.size === 0;
  }

  private begin(request: Request): void {
    const deaths = this.suspects.get(request);
    if (deaths !== undefined) {
      this.alone = request;
      if (deaths <= this.workerLost.maxRequeues) {
        this.deps.logger.warn(
          `Task ${request.label} runs alone: it was running when a worker process died ${deaths} time(s), ` +
            'so it runs without other tasks beside it until it ends (any further death is its own)',
        );
      }
    }
    this.deps.state.accept(request);
    void this.execute(request)
      .catch((error: unknown) => this.internalError(request, error))
      .finally(() => {
        this.deps.journal.done(request.id);
        this.finish(request);
      });
  }

  private finish(request: Request): void {
    if (this.alone === request) this.alone = undefined;
    this.leave(request);
    if (this.deps.state.active.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    this.pump();
  }

  /** The request is gone from this worker: out of the state, its prefetch credits back. */
  private leave(request: Request): void {
    this.deps.state.ready(request);
    this.deps.settlement.release(request);
  }

  /** A bug in our own bookkeeping must not lose the message silently: dead-letter it with a reason. */
  private async internalError(request: Request, error: unknown): Promise<void> {
    this.deps.logger.error(
      { err: error },
      `Internal error while processing ${request.label}: ${(error as Error).message}`,
    );
    await this.deps.settlement.reject(request, false, 'internal-error');
  }

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

  /**
   * `workerDeduplicateSuccessfulTasks`: a redelivered late-ack task that already succeeded is acknowledged and
   * skipped (`celery/app/trace.py:396`), by this worker's memory of recent successes or by its stored state.
   */
  private async alreadySucceeded(request: Request): Promise<boolean> {
    const { backend, logger } = this.deps;
    if (!this.mayHaveSucceeded(request)) return false;
    let done = this.deps.state.successful.has(request.id);
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
    const { pool, hostname, logger, revokes, settlement, events, io } = this.deps;
    // Checked again here: it may have waited for its ETA, a rate-limit token or this slot since it arrived.
    if (request.delivery.redelivered) await revokes.synced;
    let revoked = revokes.check(request, Date.now());
    if (revoked === null && (await revokes.storedRevoke(request))) revoked = 'revoked';
    if (revoked !== null) {
      await revokes.discard(request, revoked);
      return;
    }
    if (this.mayHaveSucceeded(request) && (await this.alreadySucceeded(request))) {
      await settlement.ack(request);
      return;
    }
    const { settings } = request;
    if (this.suspects.has(request) && (await this.killedTooOften(request))) return;
    const inProcess = pool.kind === 'async' || pool.kind === 'solo';
    this.deps.state.started(request, inProcess ? process.pid : null);
    // Recorded before the early ack, so that a process dying from here on leaves the task findable (journal.ts);
    // then acknowledged before it runs, both batched with the requests starting in the same turn.
    this.deps.journal.started({
      id: request.id,
      name: request.name,
      late: settings.acksLate,
      replyTo: request.message.replyTo,
      correlationId: request.message.correlationId,
    });
    if (!settings.acksLate && !(await settlement.ack(request))) {
      logger.warn(
        `Task ${request.label} not started: its early acknowledgement failed, so the broker delivers it again`,
      );
      return;
    }
    events.send(request, 'task-started');
    const trace = io.forRequest(request);
    const target = { name: request.name, handlers: request.task.options, request: request.context() };
    if (this.deps.app.hooks.has('taskPrerun')) await tracePrerun(trace, target);
    // As celery/app/trace.py: STARTED is stored after task_prerun and before before_start and the task body, so
    // both see it. Pools running in this process know the pid now; threads and prefork report theirs on start.
    if (inProcess && io.stores(request, States.STARTED)) {
      await io.store(request, States.STARTED, { pid: process.pid, hostname });
    }
    if (target.handlers.beforeStart) await traceBeforeStart(trace, target);
    // Terminated by remote control while it was starting (listed active, not in the pool yet): it never runs.
    if (request.terminated !== null) {
      await revokes.discard(request, 'terminated', request.terminated);
      return;
    }
    const limits = request.timeLimits;
    const outcome = await pool.run({
      request: target.request,
      task: request.task,
      timeLimit: limits.hard,
      softTimeLimit: limits.soft,
      updateState: (state, meta) => io.updateState(request, state, meta),
      sendEvent: (type, fields) => events.custom(request, type, fields),
      ...(inProcess ? {} : { onStart: (pid: number) => this.onChildStart(request, pid) }),
    });
    // A cold stop gave it back (or recorded it as lost) already; an outcome arriving now changes nothing.
    if (this.stopped) return;
    if (request.terminated !== null) {
      await revokes.discard(request, 'terminated', request.terminated);
      return;
    }
    request.finished = true;
    const runtime = Number(((performance.now() - request.startedAt) / 1000).toFixed(6));
    const lost = this.workerLostDecision(request, outcome);
    if (lost === 'requeue') {
      logger.warn(
        `Worker running ${request.label} was lost; the task goes back to its queue (rejectOnWorkerLost)`,
      );
      await settlement.reject(request, true, 'worker-lost');
      return;
    }
    if (lost === 'dead-letter') {
      logger.error(
        `Task ${request.label} lost its pool child more than ${this.workerLost.maxRequeues} times: ` +
          'stored as FAILURE and dead-lettered instead of requeued again',
      );
      // Dead-letter first, so that whoever sees the FAILURE also finds the message in the dead letters.
      await settlement.reject(request, false, 'worker-lost-requeue-limit');
    }
    const result = await traceOutcome(trace, target, outcome, runtime);
    await this.settle(request, result, runtime);
  }

  /**
   * A late-acked task redelivered after killing its worker process more than `maxWorkerLostRequeues` times (the
   * journal counts deaths of processes, whichever the pool): stored FAILURE WorkerLostError and dead-lettered
   * instead of run again, so a poison message cannot crash-loop the worker.
   */
  private async killedTooOften(request: Request): Promise<boolean> {
    const { journal, logger, settlement, io, events } = this.deps;
    // Read once, when it arrived (`submit`): only a redelivered late-ack task can have deaths counted.
    const deaths = this.suspects.get(request) ?? 0;
    if (deaths <= this.workerLost.maxRequeues) return false;
    logger.error(
      `Task ${request.label} was running when its worker process died ${deaths} times (over ` +
        `maxWorkerLostRequeues ${this.workerLost.maxRequeues}): stored as FAILURE and dead-lettered instead of run again`,
    );
    await settlement.reject(request, false, 'worker-lost-requeue-limit');
    const error = new WorkerLostError(
      `Worker exited prematurely: the worker process died ${deaths} times while running this task`,
    );
    (error as { pyArgs?: unknown[] }).pyArgs = [error.message];
    await io.store(request, States.FAILURE, error);
    events.send(request, 'task-failed', { exception: exceptionRepr(error), traceback: '' });
    journal.forgetDeaths(request.id);
    return true;
  }

  /** A thread or process took the task: its pid, and STARTED with it (not awaited: the task is not held back). */
  private onChildStart(request: Request, pid: number): void {
    request.workerPid = pid;
    void this.deps.io.store(request, States.STARTED, { pid, hostname: this.deps.hostname });
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

  /**
   * Settles the delivery for the recorded outcome, then sends the task event. Early-acknowledged requests were
   * settled when they started: only late ones (`acksLate`) are settled here.
   */
  private async settle(request: Request, result: TraceResult, runtime: number): Promise<void> {
    const { settlement, events } = this.deps;
    const late = request.settings.acksLate;
    switch (result.state) {
      case States.SUCCESS:
        if (this.deps.app.conf.workerDeduplicateSuccessfulTasks) this.deps.state.successful.add(request.id);
        if (late) {
          if (result.stored) await settlement.ack(request);
          else await settlement.reject(request, true, 'result-store-failed');
        }
        if (events.sends(request)) {
          events.send(request, 'task-succeeded', { result: saferepr(result.value, 1024), runtime });
        }
        return;
      case States.RETRY: {
        if (late) await settlement.ack(request);
        const exc = (result.value as Retry).exc;
        events.send(request, 'task-retried', {
          exception: exc == null ? 'None' : exceptionRepr(exc),
          traceback: formatTraceback(exc) ?? '',
        });
        return;
      }
      case States.IGNORED:
        if (late) await settlement.ack(request);
        return;
      case States.REJECTED:
        await this.rejected(request, result.value as Reject);
        return;
      case States.FAILURE:
        if (late) await this.settleFailure(request, result.stored);
        events.send(request, 'task-failed', {
          exception: exceptionRepr(result.value),
          traceback: formatTraceback(result.value) ?? '',
        });
        return;
    }
  }

  /** Late ack after a FAILURE: requeued if it was not stored, else acked (`acksOnFailureOrTimeout`) or dead-lettered. */
  private async settleFailure(request: Request, stored: boolean): Promise<void> {
    const { settlement } = this.deps;
    if (!stored) await settlement.reject(request, true, 'result-store-failed');
    else if (request.settings.acksOnFailureOrTimeout) await settlement.ack(request);
    else await settlement.reject(request, false, 'task-failed');
  }

  private async rejected(request: Request, reject: Reject): Promise<void> {
    const reason = reject.reason || 'rejected';
    if (request.settings.acksLate) {
      await this.deps.settlement.reject(request, reject.requeue, reason);
    } else {
      // As in Celery, Reject only means something with late acks: the message is already gone.
      this.deps.logger.warn(
        `${request.label} raised Reject, but its message was acknowledged when it started: use acksLate for Reject to take effect`,
      );
    }
    this.deps.events.send(request, 'task-rejected', { requeue: reject.requeue });
    await emitHook(this.deps.app.hooks, this.deps.logger, 'taskRejected', {
      taskId: request.id,
      reason,
      requeue: reject.requeue,
    });
  }
}
