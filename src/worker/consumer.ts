/**
 * Turns deliveries into requests, as `celery/worker/consumer/consumer.py` and `celery/worker/strategy.py` do:
 * decode, find the task, drop expired ones, hold ETA ones, and hand the rest to the executor. A message that is
 * not a valid task never throws past here: it is rejected with a reason (dead-lettered where the broker keeps
 * dead letters) and, when its id is known, recorded as FAILURE so the caller sees why.
 */
import type { Celery } from '../app/celery.js';
import { formatAwareIso } from '../protocol/time.js';
import type { Broker, Consumer, Delivery, QueueSpec } from '../brokers/broker.js';
import { InvalidTaskError, NotRegistered } from '../errors.js';
import type { Service } from '../lifecycle/service.js';
import type { Logger } from '../lifecycle/logger.js';
import { decodeTaskMessage, peekIdentity, type TaskMessage } from '../protocol/message.js';
import { States } from '../types.js';
import { buildMeta } from '../backends/meta.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Executor } from './executor.js';
import { Request, taskSettings, type TaskSettings } from './request.js';
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
}

export class TaskConsumer implements Service {
  readonly name = 'consumer';
  private consumer: Consumer | undefined;
  private readonly settings = new Map<string, TaskSettings>();
  /** Requests waiting for their ETA, with their timers. */
  private readonly scheduled = new Map<Request, NodeJS.Timeout>();
  /** How far prefetch is raised: one per ETA request held, as Celery does (`strategy.py:194`). */
  private etaBump = 0;
  private readonly etaRequests = new Set<Request>();
  /** Requests being handed back to the broker (`defer`), until it confirms. */
  private readonly deferring = new Set<Request>();

  constructor(private readonly deps: ConsumerDeps) {}

  async start(): Promise<void> {
    this.consumer = await this.deps.broker.consume(this.deps.queues, (d) => this.onDelivery(d), {
      prefetch: this.deps.prefetch,
      onLost: (deliveries) => this.onLost(deliveries),
    });
  }

  /** Stops fetching new messages; returns the requests received but not started, for the caller to give back. */
  async stop(): Promise<void> {
    await this.consumer?.cancel();
    this.consumer = undefined;
  }

  /** Requests held for a future ETA, which will not start now; their timers are cleared. */
  takeScheduled(): Request[] {
    const held = [...this.scheduled.keys()];
    for (const timer of this.scheduled.values()) clearTimeout(timer);
    this.scheduled.clear();
    return held;
  }

  /** Requests waiting for an ETA (for inspection). */
  scheduledRequests(): Request[] {
    return [...this.scheduled.keys()];
  }

  /** The executor calls this when a request is settled, so held ETA capacity is released. */
  done(request: Request): void {
    if (this.etaRequests.delete(request)) this.bumpPrefetch(-1);
  }

  /**
   * The broker lost these deliveries (their connection or channel died) and delivers them again: drop the
   * requests still waiting for their ETA or for a pool slot, so they do not run twice. Running ones finish; their
   * acknowledgement is dropped by the driver, and late-ack tasks run again (at least once).
   */
  private onLost(deliveries: readonly Delivery[]): void {
    const lost = new Set(deliveries);
    let dropped = 0;
    for (const [request, timer] of this.scheduled) {
      if (!lost.has(request.delivery)) continue;
      clearTimeout(timer);
      this.scheduled.delete(request);
      request.settled = true;
      this.done(request);
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
    this.etaBump += delta;
    if (this.deps.prefetch > 0) this.consumer?.setPrefetch(this.deps.prefetch + this.etaBump);
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
    logger.info(`Task ${request.label} received`);
    if (app.hooks.has('taskReceived'))
      void app.hooks.emit('taskReceived', { taskId: request.id, taskName: request.name });
    const now = Date.now();
    if (request.isExpired(now)) {
      void executor.revoke(request, 'expired');
      return;
    }
    if (message.eta !== null && message.eta > now) {
      this.hold(request, message.eta - now);
      return;
    }
    executor.submit(request);
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
        else this.deps.executor.submit(request);
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
      settings = taskSettings(task, this.deps.app.conf);
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
    if (app.hooks.has('taskRejected'))
      await app.hooks.emit('taskRejected', { taskId: identity.taskId, reason });
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
    if (app.conf.backend) await this.storeFailure(message.id, error, null, delivery);
    if (app.hooks.has('taskUnknown'))
      await app.hooks.emit('taskUnknown', { taskId: message.id, taskName: message.task });
    await broker
      .reject(delivery, { requeue: false, reason: 'unknown-task' })
      .catch((rejectError: unknown) => {
        logger.error({ err: rejectError }, `Could not reject a message: ${(rejectError as Error).message}`);
      });
  }
}
