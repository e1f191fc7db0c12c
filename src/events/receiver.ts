/**
 * The public event receiver, as Celery's `app.events.Receiver` (celery/events/receiver.py): a queue of its own,
 * `celeryev.<uuid>`, bound with `#` to the `celeryev` exchange (on Redis a PSUBSCRIBE of its channels, on RabbitMQ
 * an auto-deleting queue with Celery's 5 s message TTL and 60 s expiry), consumed without acknowledgements. Each
 * message is one event or a `task.multi` list of them; every event is prepared as Celery's receiver does
 * (incoming.ts: clock synced with the app's Lamport clock, timestamp localized, `local_received` added) and handed
 * to `handlers[type]`, else `handlers['*']`. Events are JSON only, whatever `acceptContent` says (Celery's rule).
 *
 *     const state = new EventsState();
 *     const receiver = app.events.receiver({ '*': (event) => state.receive(event) });
 *     await receiver.start();
 */
import type { Broker, Subscription, SubscriptionMessage } from '../brokers/broker.js';
import { ImproperlyConfigured } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import { uuid } from '../protocol/ids.js';
import type { JsonObject } from '../types.js';
import type { LamportClock } from './clock.js';
import { eventExchange } from './dispatcher.js';
import { EVENT_EXCHANGE } from './event.js';
import { prepareEvent, splitEventBody, type ReceivedEvent } from './incoming.js';

/** Handles one event; a handler that throws (or rejects) is logged and the receiver keeps going. */
export type EventHandler = (event: ReceivedEvent) => void | Promise<void>;

/** Handlers by event type (`task-succeeded`, `worker-heartbeat`, ...); `'*'` gets every event without its own. */
export type EventHandlers = Readonly<Record<string, EventHandler>>;

export interface ReceiverOptions {
  /** The receiver's queue (default `celeryev.<uuid>`, as Celery names it). */
  readonly queue?: string;
  /**
   * Ask every worker for a heartbeat once subscribed (Celery's `wakeup`: a `heartbeat` broadcast), so that the
   * workers are known at once rather than within 2 s (`app.control.heartbeat()`); a failure is logged, not thrown.
   */
  readonly wakeup?: boolean;
  /** Move `timestamp` to this machine's time zone using the sender's `utcoffset` (Celery's default); default true. */
  readonly localize?: boolean;
  /** The event exchange (`event_exchange`), default `celeryev`. */
  readonly exchange?: string;
}

/** What a receiver needs from its app. */
export interface EventsHost {
  getBroker(): Promise<Broker>;
  readonly clock: LamportClock;
  readonly logger: Logger;
}

/** Celery's `event_queue_ttl` (5 s) and `event_queue_expires` (60 s). */
const EVENT_QUEUE_TTL_MS = 5_000;
const EVENT_QUEUE_EXPIRES_MS = 60_000;

export class EventReceiver {
  readonly queue: string;
  private subscription: Subscription | undefined;
  private starting: Promise<void> | undefined;
  private stopped = false;
  /** Events received so far (all types). */
  received = 0;

  constructor(
    private readonly host: EventsHost,
    private readonly handlers: EventHandlers,
    private readonly options: ReceiverOptions = {},
    private readonly wakeup?: () => Promise<unknown>,
  ) {
    if (typeof handlers !== 'object' || handlers === null) {
      throw new TypeError(
        "receiver(handlers): handlers must be an object of functions by event type, e.g. { '*': (event) => ... }",
      );
    }
    for (const [type, handler] of Object.entries(handlers)) {
      if (typeof handler !== 'function') {
        throw new TypeError(`receiver(handlers): the handler for "${type}" is not a function`);
      }
    }
    this.queue = options.queue ?? `celeryev.${uuid()}`;
  }

  /** Subscribes; resolves once an event sent afterwards will be received. Idempotent. */
  start(): Promise<void> {
    this.starting ??= this.subscribe();
    return this.starting;
  }

  private async subscribe(): Promise<void> {
    const broker = await this.host.getBroker();
    const subscriptions = broker.subscriptions;
    if (!subscriptions) {
      throw new ImproperlyConfigured(
        `The broker ${broker.url} cannot deliver events to this process: receive them where the app connects ` +
          'to the broker itself (not in a pool child)',
      );
    }
    const subscription = await subscriptions.subscribe(
      {
        queue: this.queue,
        exchange: eventExchange(broker, this.options.exchange ?? EVENT_EXCHANGE),
        routingKey: '#',
        messageTtlMs: EVENT_QUEUE_TTL_MS,
        expiresMs: EVENT_QUEUE_EXPIRES_MS,
      },
      (message) => this.onMessage(message),
    );
    if (this.stopped) {
      await subscription.cancel();
      return;
    }
    this.subscription = subscription;
    if (this.options.wakeup && this.wakeup) {
      await this.wakeup().catch((error: unknown) => {
        this.host.logger.warn(`Could not wake the workers up: ${(error as Error).message}`);
      });
    }
  }

  /** Stops receiving and deletes the queue. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting?.catch(() => undefined);
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.cancel();
  }

  private onMessage(delivery: SubscriptionMessage): void {
    const { message } = delivery;
    const { logger } = this.host;
    if (message.contentType !== 'application/json') {
      logger.warn(
        `Dropped an event message with content type ${JSON.stringify(message.contentType)} ` +
          `(routing key ${delivery.routingKey}): events are JSON only`,
      );
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(message.body.toString('utf8'));
    } catch (error) {
      logger.warn(`Dropped an event message that is not valid JSON: ${(error as Error).message}`);
      return;
    }
    const { events, invalid } = splitEventBody(body);
    if (invalid.length > 0) logger.warn(`Dropped ${invalid.length} event(s) that are not JSON objects`);
    const now = Date.now() / 1000;
    for (const raw of events) this.dispatch(raw, now);
  }

  private dispatch(raw: JsonObject, now: number): void {
    const { logger, clock } = this.host;
    let event: ReceivedEvent;
    try {
      event = prepareEvent(raw, {
        clock,
        now,
        ...(this.options.localize === undefined ? {} : { localize: this.options.localize }),
      });
    } catch (error) {
      logger.warn(`Dropped an event: ${(error as Error).message}`);
      return;
    }
    this.received++;
    const handler = this.handlers[event.type] ?? this.handlers['*'];
    if (!handler) return;
    const failed = (error: unknown): void => {
      logger.error({ err: error }, `Event handler for ${event.type} failed: ${(error as Error).message}`);
    };
    try {
      const result = handler(event);
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}

/** `app.events`: receivers of this app's events. */
export class AppEvents {
  constructor(
    private readonly host: EventsHost,
    private readonly wakeup?: () => Promise<unknown>,
  ) {}

  /** A receiver calling `handlers[type]` (or `handlers['*']`) with each event; `start()` it. */
  receiver(handlers: EventHandlers, options: ReceiverOptions = {}): EventReceiver {
    return new EventReceiver(this.host, handlers, options, this.wakeup);
  }
}
