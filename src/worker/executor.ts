/**
 * Runs accepted requests through the pool and records what happened, as `celery/app/trace.py` and
 * `celery/worker/request.py` do: ack early (when the pool takes the task) or late (after the result is stored),
 * store STARTED/SUCCESS/FAILURE/RETRY, publish callbacks and the next chain link, fire hooks and log.
 */
import type { Celery } from '../app/celery.js';
import type { ResultBackend } from '../backends/backend.js';
import { buildMeta, type MetaRequest } from '../backends/meta.js';
import type { Broker, Delivery } from '../brokers/broker.js';
import type { Reject } from '../errors.js';
import { isCeleriacError, TaskRevokedError } from '../errors.js';
import { Batcher } from '../lifecycle/async.js';
import type { Logger } from '../lifecycle/logger.js';
import { serializeException } from '../protocol/exception.js';
import { saferepr } from '../protocol/pyrepr.js';
import { States, type ResultTuple } from '../types.js';
import { publishErrbacks, publishSuccessFollowUps } from './followups.js';
import type { Pool } from './pools/pool.js';
import type { Request } from './request.js';

export interface ExecutorDeps {
  readonly app: Celery;
  readonly broker: Broker;
  readonly backend: ResultBackend;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly hostname: string;
  /** Called whenever a request finishes (settled), so the consumer can account for it. */
  readonly onDone: (request: Request) => void;
}

export class Executor {
  private readonly waiting: Request[] = [];
  private readonly running = new Set<Request>();
  private readonly acks: Batcher<Request>;
  private idleWaiters: (() => void)[] = [];
  /** Tasks finished since start (Celery's `processed` in heartbeats). */
  processed = 0;
  private accepting = true;

  constructor(private readonly deps: ExecutorDeps) {
    this.acks = new Batcher((requests) => deps.broker.ack(requests.map((r) => r.delivery)));
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

  private metaRequest(request: Request): MetaRequest {
    const m = request.message;
    return {
      taskId: m.id,
      groupId: m.group,
      parentId: m.parentId,
      name: m.task,
      args: m.args,
      kwargs: m.kwargs,
      worker: this.deps.hostname,
      retries: m.retries,
      queue: request.delivery.queue,
    };
  }

  /** Stores a state for the request, unless results are ignored for it. */
  async store(
    request: Request,
    state: string,
    result: unknown,
    children?: ResultTuple[],
    force = false,
  ): Promise<void> {
    if (request.ignoreResult && !force) return;
    const meta = buildMeta({
      state,
      result,
      request: this.metaRequest(request),
      extended: this.deps.app.conf.resultExtended,
      ...(children ? { children: children } : {}),
    });
    await this.deps.backend.store(meta, request.storeContext);
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
    const error = new TaskRevokedError(reason);
    (error as { pyArgs?: unknown[] }).pyArgs = [reason];
    await this.safely(request, () => this.store(request, States.REVOKED, error, undefined, true));
    await this.deps.app.hooks.emit('taskRevoked', {
      taskId: request.id,
      taskName: request.name,
      terminated: false,
      expired: reason === 'expired',
    });
    await this.ack(request);
  }

  private async safely(request: Request, fn: () => Promise<void>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (error) {
      this.deps.logger.error(
        { err: error },
        `Could not store the state of ${request.label}: ${(error as Error).message}`,
      );
      return false;
    }
  }

  private async execute(request: Request): Promise<void> {
    const { app, pool, hostname } = this.deps;
    const { settings } = request;
    if (request.isExpired(Date.now())) {
      await this.revoke(request, 'expired');
      return;
    }
    request.startedAt = performance.now();
    if (!settings.acksLate) void this.ack(request);
    const context = request.context();
    if (app.hooks.has('taskPrerun')) {
      await app.hooks.emit('taskPrerun', {
        taskId: request.id,
        taskName: request.name,
        args: context.args,
        kwargs: context.kwargs,
      });
    }
    const limits = request.timeLimits;
    const outcome = await pool.run({
      request: context,
      task: request.task,
      timeLimit: limits.hard,
      softTimeLimit: limits.soft,
      updateState: (state, meta) => this.store(request, state, meta),
      onStart: (pid) => {
        if (settings.trackStarted)
          void this.safely(request, () => this.store(request, States.STARTED, { pid, hostname }));
      },
    });
    const runtime = Number(((performance.now() - request.startedAt) / 1000).toFixed(6));
    if (outcome.ok) await this.succeeded(request, outcome.value, runtime);
    else await this.failed(request, outcome.error, runtime);
  }

  private async succeeded(request: Request, value: unknown, runtime: number): Promise<void> {
    const { app, logger } = this.deps;
    let children: ResultTuple[] = [];
    try {
      children = await publishSuccessFollowUps(app, request, value);
    } catch (error) {
      logger.error(
        { err: error },
        `Could not publish the callbacks of ${request.label}: ${(error as Error).message}`,
      );
    }
    const stored = await this.safely(request, () => this.store(request, States.SUCCESS, value, children));
    logger.info(`Task ${request.label} succeeded in ${runtime}s: ${saferepr(value, 1024)}`);
    if (app.hooks.has('taskSuccess'))
      await app.hooks.emit('taskSuccess', { taskId: request.id, taskName: request.name, result: value });
    await this.postrun(request, value, States.SUCCESS);
    if (!stored && request.settings.acksLate) {
      await this.reject(request, true, 'result-store-failed');
      return;
    }
    await this.ack(request);
  }

  private async failed(request: Request, error: unknown, runtime: number): Promise<void> {
    const { app, logger } = this.deps;
    if (isCeleriacError(error, 'Retry')) {
      logger.info(`Task ${request.label} retry: ${(error as Error).message}`);
      await this.safely(request, () =>
        this.store(request, States.RETRY, (error as { exc?: unknown }).exc ?? error),
      );
      await app.hooks.emit('taskRetry', { taskId: request.id, taskName: request.name, reason: error });
      await this.postrun(request, error, States.RETRY);
      await this.ack(request);
      return;
    }
    if (isCeleriacError(error, 'Ignore')) {
      logger.info(`Task ${request.label} ignored`);
      await this.postrun(request, error, States.IGNORED);
      await this.ack(request);
      return;
    }
    if (isCeleriacError(error, 'Reject')) {
      const reject = error as Reject;
      logger.info(`Task ${request.label} rejected${reject.requeue ? ' (requeued)' : ''}: ${reject.reason}`);
      await app.hooks.emit('taskRejected', { taskId: request.id, reason: reject.reason });
      await this.postrun(request, error, States.REJECTED);
      await this.reject(request, reject.requeue, reject.reason || 'rejected');
      return;
    }
    const info = serializeException(error);
    logger.error(
      { err: error instanceof Error ? error : undefined },
      `Task ${request.label} raised unexpected: ${info.exc_type}(${saferepr(info.exc_message, 1024)}) after ${runtime}s`,
    );
    const storeIt = !request.ignoreResult || request.settings.storeErrorsEvenIfIgnored;
    const failure = error instanceof Error ? error : new Error(String(error));
    const stored = storeIt
      ? await this.safely(request, () => this.store(request, States.FAILURE, failure, undefined, true))
      : true;
    try {
      await publishErrbacks(app, request);
    } catch (publishError) {
      logger.error({ err: publishError }, `Could not publish the errbacks of ${request.label}`);
    }
    await app.hooks.emit('taskFailure', {
      taskId: request.id,
      taskName: request.name,
      error,
      args: request.message.args,
      kwargs: request.message.kwargs,
    });
    await this.postrun(request, error, States.FAILURE);
    if (!request.settings.acksLate) return;
    if (!stored) await this.reject(request, true, 'result-store-failed');
    else if (request.settings.acksOnFailureOrTimeout) await this.ack(request);
    else await this.reject(request, false, 'task-failed');
  }

  private async postrun(request: Request, retval: unknown, state: string): Promise<void> {
    const { app } = this.deps;
    if (!app.hooks.has('taskPostrun')) return;
    await app.hooks.emit('taskPostrun', {
      taskId: request.id,
      taskName: request.name,
      args: request.message.args,
      kwargs: request.message.kwargs,
      retval,
      state,
    });
  }
}
