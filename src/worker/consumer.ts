/**
 * Turns deliveries into requests, as `celery/worker/consumer/consumer.py` and `celery/worker/strategy.py` do:
 * decode, find the task, drop expired ones, hold ETA ones, make rate-limited ones wait for a token, and hand the
 * rest to the executor. A message that is not a valid task never throws past here: it is rejected with a reason
 * (dead-lettered where the broker keeps dead letters) and, when its id is known, recorded as FAILURE so the caller
 * sees why.
 */
import type { Celery } from '../app/celery.js';
import { emitHook } from '../app/tracer.js';
import { formatAwareIso } from '../protocol/time.js';
import type { Broker, Consumer, Delivery, QueueSpec } from '../brokers/broker.js';
import { ImproperlyConfigured, InvalidTaskError, NotRegistered } from '../errors.js';
import { disabledDispatcher, type EventDispatcher } from '../events/dispatcher.js';
import type { Service } from '../lifecycle/service.js';
import type { Logger } from '../lifecycle/logger.js';
import { decodeTaskMessage, peekIdentity, type TaskMessage } from '../protocol/message.js';
import { saferepr } from '../protocol/pyrepr.js';
import { States } from '../types.js';
import { buildMeta } from '../backends/meta.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Executor } from './executor.js';
import { parseRate, RateLimiter } from './rate-limit.js';
import { Request, taskSettings, type TaskSettings, type WorkerTaskDefaults } from './request.js';
import type { Task } from '../app/task.js';

export interface ConsumerDeps {
  readonly app: Celery;
  readonly broker: Broker;
  readonly backend: ResultBackend;
  readonly executor: Executor;
  readonly logger: Logger;
  readonly hostname: string;
  readonly queues: readonly QueueSpec[];
  /** Most unsettled deliveries held at once (concurrency x prefetch multiplier); 0 = unlimited. */
  readonly prefetch: number;
  /** Worker-wide task defaults (`--time-limit`, `--soft-time-limit`). */
  readonly taskDefaults?: WorkerTaskDefaults;
  readonly events?: EventDispatcher;
}

/**
 * Rate-limited requests waiting for a token do not count against prefetch (so other tasks keep flowing), up to
 * this many per task; past it the worker stops fetching extra messages for them, so a queue full of one
 * rate-limited task is not pulled into memory all at once.
 */
export const RATE_LIMIT_MAX_HELD = 1000;

export class TaskConsumer implements Service {
  readonly name = 'consumer';
  private consumer: Consumer | undefined;
  private readonly settings = new Map<string, TaskSettings>();
  /** Requests waiting for their ETA, with their timers. */
  private readonly scheduled = new Map<Request, NodeJS.Timeout>();
  /** How far prefetch is raised: one per ETA request held, as Celery does (`strategy.py:194`), and per waiting rate-limited request. */
  private prefetchBump = 0;
  private readonly etaRequests = new Set<Request>();
  private readonly rateBumped = new Set<Request>();
  private readonly rateBumpedByTask = new Map<string, number>();
  private readonly limiter: RateLimiter<Request>;
  private readonly events: EventDispatcher;
  /** Requests being handed back to the broker (`defer`), until it confirms. */
  private readonly deferring = new Set<Request>();

  constructor(private readonly deps: ConsumerDeps) {
    this.events = deps.events ?? disabledDispatcher;
    this.limiter = new RateLimiter<Request>({ release: (request) => this.releaseLimited(request) });
    if (!deps.app.conf.workerDisableRateLimits) {
      for (const task of deps.app.tasks.values()) {
        const rate =
          task.options.rateLimit !== undefined ? task.options.rateLimit : deps.app.conf.taskDefaultRateLimit;
        this.limiter.set(task.name, checkedRate(task.name, rate));
      }
    }
  }

  async start(): Promise<void> {
    this.consumer = await this.deps.broker.consume(this.deps.queues, (d) => this.onDelivery(d), {
      prefetch: this.deps.prefetch,
      onLost: (deliveries) => this.onLost(deliveries),
    });
  }

  /** Stops fetching new messages. Requests held (ETA, rate limit) stay held until `takeScheduled()`. */
  async stop(): Promise<void> {
    await this.consumer?.cancel();
    this.consumer = undefined;
  }

  /** Requests held for a future ETA or a rate-limit token, which will not start now; their timers are cleared. */
  takeScheduled(): Request[] {
    const held = [...this.scheduled.keys()];
    for (const timer of this.scheduled.values()) clearTimeout(timer);
    this.scheduled.clear();
    return [...held, ...this.limiter.takeAll()];
  }

  /** Requests waiting for an ETA (for inspection). */
  scheduledRequests(): Request[] {
    return [...this.scheduled.keys()];
  }

  /** Requests waiting for a rate-limit token. */
  get rateLimited(): number {
    return this.limiter.waiting;
  }

  /**
   * Changes a task's rate limit on this worker now (remote control's `rate_limit`): `"10/s"`, `"100/m"`, `"5/h"`,
   * a number per second, or null to remove it. Requests already waiting follow the new rate.
   */
  setRateLimit(taskName: string, rate: string | number | null): void {
    const task = this.deps.app.tasks.get(taskName);
    if (!task)
      throw new ImproperlyConfigured(`Cannot set the rate limit of ${taskName}: no such task on this worker`);
    const perSecond = checkedRate(taskName, rate);
    if (this.deps.app.conf.workerDisableRateLimits) {
      this.deps.logger.warn(`Rate limit for ${taskName} not applied: workerDisableRateLimits is on`);
      return;
    }
    this.limiter.set(taskName, perSecond);
    this.deps.logger.info(
      perSecond > 0
        ? `Rate limit for ${taskName} set to ${String(rate)}`
        : `Rate limits disabled for tasks of type ${taskName}`,
    );
  }

  /** The executor calls this when a request is settled, so held ETA capacity is released. */
  done(request: Request): void {
    if (this.etaRequests.delete(request)) this.bumpPrefetch(-1);
  }

  /**
   * The broker lost these deliveries (their connection or channel died) and delivers them again: drop the
   * requests still waiting for their ETA, a rate-limit token or a pool slot, so they do not run twice. Running
   * ones finish; their acknowledgement is dropped by the driver, and late-ack tasks run again (at least once).
   */
  private onLost(deliveries: readonly Delivery[]): void {
    const lost = new Set(deliveries);
    const drop = (request: Request): void => {
      request.settled = true;
      this.done(request);
      this.releaseRateBump(request);
    };
    let dropped = 0;
    for (const [request, timer] of this.scheduled) {
      if (!lost.has(request.delivery)) continue;
      clearTimeout(timer);
      this.scheduled.delete(request);
      drop(request);
      dropped++;
    }
    for (const request of this.limiter.remove((r) => lost.has(r.delivery))) {
      drop(request);
      dropped++;
    }
    for (const request of this.deferring) {
      if (lost.has(request.delivery)) this.deferring.delete(request);
    }
    dropped += this.deps.executor.discard(lost);
    if (dropped > 0) {
      this.deps.logger.info(
        `Dropped ${dropped} received task(s) whose delivery was lost; the broker redelivers them`,
      );
    }
  }

  private bumpPrefetch(delta: number): void {
    this.prefetchBump += delta;
    if (this.deps.prefetch > 0) this.consumer?.setPrefetch(this.deps.prefetch + this.prefetchBump);
  }

  private onDelivery(delivery: Delivery): void {
    try {
      this.receive(delivery);
    } catch (error) {
      // Nothing may escape into the broker driver; reject what we could not even classify.
      this.deps.logger.error(
        { err: error },
        `Unexpected error while receiving a message: ${(error as Error).message}`,
      );
      void this.deps.broker
        .reject(delivery, { requeue: false, reason: 'internal-error' })
        .catch(() => undefined);
    }
  }

  private receive(delivery: Delivery): void {
    const { app, executor, logger } = this.deps;
    const conf = app.conf;
    if (delivery.message.body.length > conf.maxMessageSize) {
      void this.rejectInvalid(
        delivery,
        new InvalidTaskError(
          'message-too-large',
          `message body is ${delivery.message.body.length} bytes, over maxMessageSize ${conf.maxMessageSize}`,
        ),
      );
      return;
    }
    let message: TaskMessage;
    try {
      message = decodeTaskMessage(delivery.message, conf.accept);
    } catch (error) {
      void this.rejectInvalid(delivery, error);
      return;
    }
    const task = app.tasks.get(message.task);
    if (!task) {
      void this.rejectUnknown(delivery, message);
      return;
    }
    const request = new Request(message, delivery, task, this.settingsFor(task), this.deps.hostname);
    if (logger.isLevelEnabled('info')) logger.info(`Task ${request.label} received`);
    const now = Date.now();
    // Expired requests are discarded before anything announces them (celery/worker/strategy.py:160).
    if (request.isExpired(now)) {
      void executor.revoke(request, 'expired');
      return;
    }
    if (app.hooks.has('taskReceived')) {
      void emitHook(app.hooks, logger, 'taskReceived', {
        taskId: request.id,
        taskName: request.name,
        request: request.context(),
      });
    }
    if (executor.sendsEvents(request))
      executor.event(request, 'task-received', {
        name: request.name,
        args: message.argsrepr ?? '',
        kwargs: message.kwargsrepr ?? '',
        root_id: message.rootId,
        parent_id: message.parentId,
        retries: message.retries,
        eta: message.eta === null ? null : formatAwareIso(message.eta),
        expires: message.expires === null ? null : formatAwareIso(message.expires),
      });
    if (message.eta !== null && message.eta > now) {
      this.hold(request, message.eta - now);
      return;
    }
    this.dispatch(request);
  }

  /** Hands a request to the executor, unless its task's rate limit makes it wait for a token first. */
  private dispatch(request: Request): void {
    if (this.limiter.admit(request.name, request)) {
      const held = this.rateBumpedByTask.get(request.name) ?? 0;
      if (held < RATE_LIMIT_MAX_HELD) {
        this.rateBumped.add(request);
        this.rateBumpedByTask.set(request.name, held + 1);
        this.bumpPrefetch(1);
      }
      return;
    }
    this.deps.executor.submit(request);
  }

  private releaseLimited(request: Request): void {
    this.releaseRateBump(request);
    this.deps.executor.submit(request);
  }

  private releaseRateBump(request: Request): void {
    if (this.rateBumped.delete(request)) {
      this.rateBumpedByTask.set(request.name, (this.rateBumpedByTask.get(request.name) ?? 1) - 1);
      this.bumpPrefetch(-1);
    }
  }

  private hold(request: Request, delayMs: number): void {
    const { broker } = this.deps;
    if (broker.defer && broker.deferAfterMs !== undefined && delayMs > broker.deferAfterMs) {
      this.defer(request);
      return;
    }
    this.etaRequests.add(request);
    this.bumpPrefetch(1);
    this.arm(request, delayMs);
  }

  private arm(request: Request, delayMs: number): void {
    // setTimeout cannot wait longer than about 24.8 days; re-arm in steps for ETAs further away.
    const timer = setTimeout(
      () => {
        this.scheduled.delete(request);
        const remaining = (request.message.eta ?? 0) - Date.now();
        if (remaining > 0) this.arm(request, remaining);
        else this.dispatch(request);
      },
      Math.min(delayMs, 2 ** 31 - 1),
    );
    this.scheduled.set(request, timer);
  }

  /**
   * Hands a far-future ETA task back to the broker (RabbitMQ would close the channel of a consumer holding it
   * past `consumer_timeout`); it comes back shortly before its ETA and is held then. If that fails for another
   * reason than a lost delivery, the task is held here instead, as Celery would.
   */
  private defer(request: Request): void {
    const eta = request.message.eta!;
    request.settled = true;
    this.deferring.add(request);
    this.deps.broker.defer!(request.delivery, eta).then(
      () => {
        this.deferring.delete(request);
        this.deps.logger.info(`Task ${request.label} deferred until ${formatAwareIso(eta)}`);
      },
      (error: unknown) => {
        if (!this.deferring.delete(request)) {
          // onLost took it out: the delivery is gone and the broker delivers the task again.
          this.deps.logger.info(`Task ${request.label} not deferred: ${(error as Error).message}`);
          return;
        }
        this.deps.logger.warn(
          `Could not defer task ${request.label} (${(error as Error).message}); holding it until its ETA`,
        );
        request.settled = false;
        this.etaRequests.add(request);
        this.bumpPrefetch(1);
        this.arm(request, eta - Date.now());
      },
    );
  }

  private settingsFor(task: Task<unknown[], unknown>): TaskSettings {
    let settings = this.settings.get(task.name);
    if (!settings) {
      settings = taskSettings(task, this.deps.app.conf, this.deps.taskDefaults);
      this.settings.set(task.name, settings);
    }
    return settings;
  }

  private async storeFailure(
    taskId: string,
    error: Error,
    traceback: string | null,
    delivery: Delivery,
  ): Promise<void> {
    const { properties } = delivery.message;
    const context = {
      replyTo: typeof properties.reply_to === 'string' ? properties.reply_to : null,
      correlationId: typeof properties.correlation_id === 'string' ? properties.correlation_id : null,
    };
    try {
      await this.deps.backend.store(
        buildMeta({ state: States.FAILURE, result: error, traceback, request: { taskId } }),
        context,
      );
    } catch (storeError) {
      this.deps.logger.debug({ err: storeError }, `Could not store the failure of ${taskId}`);
    }
  }

  private async rejectInvalid(delivery: Delivery, error: unknown): Promise<void> {
    const { app, broker, logger } = this.deps;
    const reason = error instanceof InvalidTaskError ? error.reason : 'invalid-message';
    const identity = {
      ...peekIdentity(delivery.message),
      ...(error as { taskId?: string; taskName?: string }),
    };
    const what = identity.taskName ? ` for ${identity.taskName}[${identity.taskId ?? '?'}]` : '';
    logger.error(
      `Received invalid task message${what}: ${(error as Error).message}. The message was rejected (${reason}).`,
    );
    if (identity.taskId && app.conf.backend) {
      await this.storeFailure(
        identity.taskId,
        error instanceof Error ? error : new Error(String(error)),
        null,
        delivery,
      );
    }
    await emitHook(app.hooks, logger, 'taskRejected', { taskId: identity.taskId, reason, requeue: false });
    await broker.reject(delivery, { requeue: false, reason }).catch((rejectError: unknown) => {
      logger.error(
        { err: rejectError },
        `Could not reject an invalid message: ${(rejectError as Error).message}`,
      );
    });
  }

  private async rejectUnknown(delivery: Delivery, message: TaskMessage): Promise<void> {
    const { app, broker, logger } = this.deps;
    logger.error(
      `Received unregistered task of type '${message.task}'.\nThe message has been ignored and discarded.\n\n` +
        'Did you remember to import the module containing this task?\nOr maybe you are using relative imports?',
    );
    const error = new NotRegistered(message.task);
    (error as { pyArgs?: unknown[] }).pyArgs = [message.task];
    await broker
      .reject(delivery, { requeue: false, reason: 'unknown-task' })
      .catch((rejectError: unknown) => {
        logger.error({ err: rejectError }, `Could not reject a message: ${(rejectError as Error).message}`);
      });
    if (app.conf.backend) await this.storeFailure(message.id, error, null, delivery);
    if (this.events.enabled) {
      void this.events.send('task-failed', {
        uuid: message.id,
        exception: `NotRegistered(${saferepr(message.task)})`,
      });
    }
    await emitHook(app.hooks, logger, 'taskUnknown', { taskId: message.id, taskName: message.task });
  }
}

function checkedRate(taskName: string, rate: string | number | null | undefined): number {
  try {
    return parseRate(rate);
  } catch (error) {
    throw new ImproperlyConfigured(`rateLimit of task ${taskName}: ${(error as Error).message}`);
  }
}
