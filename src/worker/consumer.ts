/**
 * Turns deliveries into requests, as `celery/worker/consumer/consumer.py` and `celery/worker/strategy.py` do:
 * decode, find the task, drop expired and revoked ones (revokes.ts), hold ETA ones, make rate-limited ones wait
 * for a token, and hand the rest to the executor. A message that is not a valid task never throws past here: it is
 * rejected with a reason (dead-lettered where the broker keeps dead letters) and, when its id is known, recorded as
 * FAILURE so the caller sees why. Where each request is goes to state.ts; its delivery is settled by
 * settlement.ts.
 */
import type { Celery } from '../app/celery.js';
import { emitHook } from '../app/tracer.js';
import { formatAwareIso } from '../protocol/time.js';
import type { Broker, Consumer, Delivery, QueueSpec } from '../brokers/broker.js';
import { ImproperlyConfigured, InvalidTaskError, NotRegistered } from '../errors.js';
import type { Service } from '../lifecycle/service.js';
import type { Logger } from '../lifecycle/logger.js';
import {
  decodeTaskMessage,
  peekIdentity,
  type DecodeOptions,
  type TaskMessage,
} from '../protocol/message.js';
import { saferepr } from '../protocol/pyrepr.js';
import { States } from '../types.js';
import { buildMeta } from '../backends/meta.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Executor } from './executor.js';
import { parseRate, RateLimiter } from './rate-limit.js';
import { Request } from './request.js';
import type { Revokes } from './revokes.js';
import type { Settlement } from './settlement.js';
import type { State } from './state.js';
import type { TaskEvents } from './task-events.js';

export interface ConsumerDeps {
  readonly app: Celery;
  readonly broker: Broker;
  readonly backend: ResultBackend;
  readonly logger: Logger;
  readonly hostname: string;
  readonly queues: readonly QueueSpec[];
  readonly state: State;
  readonly settlement: Settlement;
  readonly events: TaskEvents;
  readonly revokes: Revokes;
  readonly executor: Executor;
}

export class TaskConsumer implements Service {
  readonly name = 'consumer';
  private consumer: Consumer | undefined;
  /** The queues the main consumer reads (the worker's, less those cancelled by remote control). */
  private queues: QueueSpec[] = [];
  /** Queues added by remote control (`add_consumer`), each with a broker consumer of its own. */
  private readonly added = new Map<string, { spec: QueueSpec; consumer: Consumer }>();
  private stopped = false;
  /**
   * Deliveries that arrived before the worker said it is ready, handled by `open()`; null once open. As Celery's
   * event loop, which only runs after `on_ready`: no task is received, logged or started before "ready".
   */
  private early: Delivery[] | null = [];
  /** The timers of the requests held for their ETA (`state.scheduled`). */
  private readonly timers = new Map<Request, NodeJS.Timeout>();
  private readonly limiter: RateLimiter<Request>;
  /** A compressed body may not inflate past maxMessageSize either. */
  private readonly decodeOptions: DecodeOptions;

  constructor(private readonly deps: ConsumerDeps) {
    this.decodeOptions = { maxBodySize: deps.app.conf.maxMessageSize };
    this.limiter = new RateLimiter<Request>({ release: (request) => this.releaseLimited(request) });
    if (!deps.app.conf.workerDisableRateLimits) {
      for (const record of deps.state.tasks()) {
        this.limiter.set(record.name, checkedRate(record.name, record.rateLimit));
      }
    }
    deps.settlement.onPrefetchChange((prefetch) => {
      this.consumer?.setPrefetch(prefetch);
      for (const added of this.added.values()) added.consumer.setPrefetch(prefetch);
    });
  }

  /** Declares the queues and starts fetching. */
  async start(): Promise<void> {
    const { broker, queues } = this.deps;
    this.queues = [...queues];
    await broker.declare(queues);
    this.consumer = await this.consumeFrom(queues);
  }

  /** Handles deliveries from now on, starting with those that arrived before the worker was ready. */
  open(): void {
    const early = this.early ?? [];
    this.early = null;
    for (const delivery of early) this.onDelivery(delivery);
  }

  private consumeFrom(queues: readonly QueueSpec[]): Promise<Consumer> {
    return this.deps.broker.consume(queues, (d) => (this.early ? this.early.push(d) : this.onDelivery(d)), {
      prefetch: this.deps.state.prefetch,
      onLost: (deliveries) => this.onLost(deliveries),
    });
  }

  /**
   * Requests held for their ETA whose ids were just revoked go to the executor now, where the revoke check discards
   * them: they are REVOKED at once rather than at their ETA (Celery waits for the ETA).
   */
  revoked(ids: ReadonlySet<string>): void {
    for (const [request, timer] of this.timers) {
      if (!ids.has(request.id)) continue;
      clearTimeout(timer);
      this.timers.delete(request);
      this.deps.executor.submit(request);
    }
  }

  /** The queues consumed now (`inspect active_queues`). */
  activeQueues(): QueueSpec[] {
    return [...this.queues, ...[...this.added.values()].map((a) => a.spec)];
  }

  /**
   * Starts consuming from one more queue (remote control `add_consumer`), with a broker consumer of its own and the
   * same prefetch. A no-op for a queue consumed already.
   */
  async addQueue(spec: QueueSpec): Promise<void> {
    if (this.stopped || this.activeQueues().some((q) => q.name === spec.name)) return;
    await this.deps.broker.declare([spec]);
    const consumer = await this.consumeFrom([spec]);
    if (this.stopped) {
      await consumer.cancel();
      return;
    }
    this.added.set(spec.name, { spec, consumer });
    this.deps.logger.info(`Started consuming from ${spec.name}`);
  }

  /**
   * Stops consuming from a queue (remote control `cancel_consumer`). Deliveries already received stay and run. The
   * start-up queues share one broker consumer: it is replaced by one for the queues left.
   */
  async cancelQueue(name: string): Promise<void> {
    const added = this.added.get(name);
    if (added) {
      this.added.delete(name);
      await added.consumer.cancel();
    } else if (this.queues.some((q) => q.name === name)) {
      this.queues = this.queues.filter((q) => q.name !== name);
      const old = this.consumer;
      this.consumer = undefined;
      await old?.cancel();
      if (this.queues.length > 0 && !this.stopped) this.consumer = await this.consumeFrom(this.queues);
    } else {
      return;
    }
    this.deps.logger.info(`No longer consuming from ${name}`);
  }

  /** Warm: stops fetching and gives back the requests held for an ETA or a rate-limit token (they would not start now). */
  async drain(): Promise<void> {
    await this.stop();
  }

  /** Stops fetching and gives back what it holds. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    // Stopped before it was ready: what arrived goes straight back to the broker, never received or run here.
    const early = this.early ?? [];
    this.early = null;
    await this.consumer?.cancel();
    this.consumer = undefined;
    const added = [...this.added.values()];
    this.added.clear();
    await Promise.all(added.map((a) => a.consumer.cancel()));
    const held = [...this.timers.keys(), ...this.limiter.takeAll()];
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const request of held) {
      this.deps.state.ready(request);
      this.deps.settlement.release(request);
    }
    await this.deps.settlement.giveBack(held, 'prefetched message(s)');
    if (early.length > 0) await this.deps.settlement.giveBackDeliveries(early);
  }

  /**
   * Changes a task's rate limit on this worker now (remote control's `rate_limit`): `"10/s"`, `"100/m"`, `"5/h"`,
   * a number per second, or null to remove it. Requests already waiting follow the new rate.
   */
  setRateLimit(taskName: string, rate: string | number | null): void {
    const record = this.deps.state.task(taskName);
    if (!record)
      throw new ImproperlyConfigured(`Cannot set the rate limit of ${taskName}: no such task on this worker`);
    const perSecond = checkedRate(taskName, rate);
    record.rateLimit = rate;
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

  /**
   * The broker lost these deliveries (their connection or channel died) and delivers them again: drop the
   * requests still waiting for their ETA, a rate-limit token or a pool slot, so they do not run twice. Running
   * ones finish; their acknowledgement is dropped by the driver, and late-ack tasks run again (at least once).
   */
  private onLost(deliveries: readonly Delivery[]): void {
    const { settlement, state, executor, logger } = this.deps;
    const lost = new Set(deliveries);
    if (this.early) this.early = this.early.filter((delivery) => !lost.has(delivery));
    const drop = (request: Request): void => {
      settlement.lost(request);
      state.ready(request);
    };
    let dropped = 0;
    for (const [request, timer] of this.timers) {
      if (!lost.has(request.delivery)) continue;
      clearTimeout(timer);
      this.timers.delete(request);
      drop(request);
      dropped++;
    }
    for (const request of this.limiter.remove((r) => lost.has(r.delivery))) {
      drop(request);
      dropped++;
    }
    settlement.loseDeferring(lost);
    dropped += executor.discard(lost);
    if (dropped > 0) {
      logger.info(`Dropped ${dropped} received task(s) whose delivery was lost; the broker redelivers them`);
    }
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
      void this.deps.settlement.rejectDelivery(delivery, 'internal-error');
    }
  }

  private receive(delivery: Delivery): void {
    const { app, logger, state, revokes } = this.deps;
    const conf = app.conf;
    if (delivery.message.body.length > conf.maxMessageSize) {
      void this.rejectInvalid(
        delivery,
        new InvalidTaskError(
          'message-too-large',
          `message body is ${delivery.message.body.length} bytes, over the maxMessageSize limit of ${conf.maxMessageSize} ` +
            'bytes: send a reference (a URL, a key) instead of the data, or raise maxMessageSize on producers and workers',
        ),
      );
      return;
    }
    let message: TaskMessage;
    try {
      message = decodeTaskMessage(delivery.message, conf.accept, this.decodeOptions);
    } catch (error) {
      void this.rejectInvalid(delivery, error);
      return;
    }
    const record = state.task(message.task);
    if (!record) {
      void this.rejectUnknown(delivery, message);
      return;
    }
    const request = new Request(message, delivery, record, this.deps.hostname);
    if (logger.isLevelEnabled('info')) logger.info(`Task ${request.label} received`);
    const now = Date.now();
    // Expired and revoked requests are discarded before anything announces them (celery/worker/strategy.py:160).
    const revoked = revokes.check(request, now);
    if (revoked !== null) {
      void revokes.discard(request, revoked);
      return;
    }
    if (app.hooks.has('taskReceived')) {
      void emitHook(app.hooks, logger, 'taskReceived', {
        taskId: request.id,
        taskName: request.name,
        request: request.context(),
      });
    }
    this.deps.events.received(request);
    if (message.eta !== null && message.eta > now) {
      this.hold(request, message.eta - now);
      return;
    }
    this.dispatch(request);
  }

  /** Hands a request to the executor, unless its task's rate limit makes it wait for a token first. */
  private dispatch(request: Request): void {
    if (this.limiter.admit(request.name, request)) {
      this.deps.state.reserve(request);
      this.deps.settlement.holdForRateLimit(request);
      return;
    }
    this.deps.executor.submit(request);
  }

  private releaseLimited(request: Request): void {
    this.deps.settlement.releaseRateLimit(request);
    this.deps.executor.submit(request);
  }

  /** Holds a request until its ETA, raising prefetch by one meanwhile, or hands it back to the broker (defer). */
  private hold(request: Request, delayMs: number): void {
    if (this.deps.settlement.defers(delayMs)) {
      void this.defer(request);
      return;
    }
    this.deps.state.schedule(request);
    this.deps.settlement.holdForEta(request);
    this.arm(request, delayMs);
  }

  private arm(request: Request, delayMs: number): void {
    // setTimeout cannot wait longer than about 24.8 days; re-arm in steps for ETAs further away.
    const timer = setTimeout(
      () => {
        this.timers.delete(request);
        const remaining = (request.message.eta ?? 0) - Date.now();
        if (remaining > 0) this.arm(request, remaining);
        else this.dispatch(request);
      },
      Math.min(delayMs, 2 ** 31 - 1),
    );
    this.timers.set(request, timer);
  }

  /**
   * Hands a far-future ETA task back to the broker (RabbitMQ would close the channel of a consumer holding it
   * past `consumer_timeout`); it comes back shortly before its ETA and is held then. If that fails for another
   * reason than a lost delivery, the task is held here instead, as Celery would.
   */
  private async defer(request: Request): Promise<void> {
    const { settlement, logger } = this.deps;
    const eta = request.message.eta!;
    const result = await settlement.defer(request, eta);
    if (result.outcome === 'deferred') {
      logger.info(`Task ${request.label} deferred until ${formatAwareIso(eta)}`);
      return;
    }
    const reason = result.error instanceof Error ? result.error.message : 'no longer held';
    if (result.outcome === 'lost') {
      // onLost took it out: the delivery is gone and the broker delivers the task again.
      logger.info(`Task ${request.label} not deferred: ${reason}`);
      return;
    }
    if (this.stopped) {
      await settlement.giveBack([request], 'prefetched message(s)');
      return;
    }
    logger.warn(`Could not defer task ${request.label} (${reason}); holding it until its ETA`);
    this.deps.state.schedule(request);
    settlement.holdForEta(request);
    this.arm(request, eta - Date.now());
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
    const { app, settlement, logger } = this.deps;
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
    await settlement.rejectDelivery(delivery, reason);
  }

  private async rejectUnknown(delivery: Delivery, message: TaskMessage): Promise<void> {
    const { app, settlement, events, logger } = this.deps;
    logger.error(
      `Received unregistered task of type '${message.task}'.\nThe message has been ignored and discarded.\n\n` +
        'Did you remember to import the module containing this task?\nOr maybe you are using relative imports?',
    );
    const error = new NotRegistered(message.task);
    (error as { pyArgs?: unknown[] }).pyArgs = [message.task];
    await settlement.rejectDelivery(delivery, 'unknown-task');
    if (app.conf.backend) await this.storeFailure(message.id, error, null, delivery);
    events.sendFor(message.id, 'task-failed', { exception: `NotRegistered(${saferepr(message.task)})` });
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
