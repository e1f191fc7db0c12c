/**
 * Sends events, as Celery's `EventDispatcher` (celery/events/dispatcher.py). A worker owns one: its heartbeats go
 * out one message each, its task events are buffered and sent as `task.multi` batches (a JSON list, at most
 * `bufferLimit` events, flushed once the current turn of the event loop is over, as a Celery 5.2 worker flushes its
 * buffer from its hub), and a client sends `task-sent` one by one. Every event is stamped with the sender's Lamport
 * clock. Events are best effort: a lost event is logged once per outage and never fails a task.
 */
import type { Broker, ExchangeSpec } from '../brokers/broker.js';
import type { Logger } from '../lifecycle/logger.js';
import type { JsonValue } from '../types.js';
import type { LamportClock } from './clock.js';
import {
  buildEvent,
  EVENT_EXCHANGE,
  eventMessage,
  eventRoutingKey,
  type CeleryEvent,
  type EventFields,
} from './event.js';

export interface SendOptions {
  /** Publish now even when the event's group is buffered (a task's own events, as Celery's child sends them). */
  readonly immediate?: boolean;
}

export interface EventDispatcher {
  readonly enabled: boolean;
  /** Publishes one event (or buffers it, for a buffered group, unless `immediate`); never throws. */
  send(type: string, fields: EventFields, options?: SendOptions): Promise<void>;
  /** Publishes what is buffered now. */
  flush(): Promise<void>;
  /** Stops sending; events kept while the broker was away are dropped. */
  close?(): void;
}

/** Events off: every send is a no-op. */
export const disabledDispatcher: EventDispatcher = {
  enabled: false,
  send: async () => undefined,
  flush: async () => undefined,
};

export interface BrokerDispatcherOptions {
  readonly broker: Broker;
  readonly hostname: string;
  readonly logger: Logger;
  /** The sender's Lamport clock (the app's, as Celery's `app.clock`); ticks once per event. */
  readonly clock: LamportClock;
  /** Exchange name (`event_exchange`), default `celeryev`. */
  readonly exchange?: string;
  /** Groups (`task` of `task-started`) whose events are buffered and sent as `<group>.multi` lists. */
  readonly bufferGroups?: readonly string[];
  /** Events buffered before a batch is sent at once (Celery's `buffer_limit`, 24). */
  readonly bufferLimit?: number;
}

/**
 * The event exchange as Celery declares it (`celery/events/event.py get_exchange`): a durable topic exchange, but a
 * fanout one where broadcasts travel by pub/sub (Redis), so that events are PUBLISHed to the monitors listening
 * and never pile up in the lists of receivers that are gone.
 */
export function eventExchange(broker: Broker, name: string = EVENT_EXCHANGE): ExchangeSpec {
  return { name, type: broker.capabilities.broadcast === 'pubsub' ? 'fanout' : 'topic', durable: true };
}

/** `task-succeeded` -> `task` (Celery's `group_from`). */
export function eventGroup(type: string): string {
  const dash = type.indexOf('-');
  return dash === -1 ? type : type.slice(0, dash);
}

const DEFAULT_BUFFER_LIMIT = 24;
/** Events kept while the broker does not take them (the oldest go first past it). */
const OUTBOUND_LIMIT = 10_000;
/** How often a dispatcher holding events it could not send tries again. */
const RETRY_MS = 1_000;

interface Outbound {
  readonly body: CeleryEvent | CeleryEvent[];
  readonly routingKey: string;
  readonly what: string;
}

export class BrokerEventDispatcher implements EventDispatcher {
  readonly enabled = true;
  private failing = false;
  /** The exchange is declared before the first event (kombu's `declare=[exchange]`), then once per dispatcher. */
  private declared: Promise<void> | undefined;
  private readonly buffered: Set<string>;
  private readonly buffers = new Map<string, CeleryEvent[]>();
  private flushScheduled = false;
  /** Publishes under way, so that `flush()` resolves once they are all done. */
  private readonly pending = new Set<Promise<void>>();
  /**
   * Events the broker did not take (it was away), sent again in order once it does, as Celery's dispatcher
   * buffers while offline and flushes on reconnect. New events queue behind them meanwhile.
   */
  private readonly outbound: Outbound[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private dropped = 0;

  constructor(private readonly options: BrokerDispatcherOptions) {
    this.buffered = new Set(options.bufferGroups ?? []);
  }

  private declareExchange(): Promise<void> {
    const { broker } = this.options;
    this.declared ??= broker
      .declareExchange(eventExchange(broker, this.options.exchange))
      .catch((error: unknown) => {
        this.declared = undefined;
        throw error;
      });
    return this.declared;
  }

  private build(type: string, fields: EventFields): CeleryEvent {
    const { hostname, clock } = this.options;
    return buildEvent(type, fields, { hostname, pid: process.pid, clock: clock.forward(), now: Date.now() });
  }

  send(type: string, fields: EventFields, options: SendOptions = {}): Promise<void> {
    const event = this.build(type, fields);
    const group = eventGroup(type);
    if (options.immediate === true || !this.buffered.has(group))
      return this.track(this.publish(event, eventRoutingKey(type), type));
    let buffer = this.buffers.get(group);
    if (!buffer) this.buffers.set(group, (buffer = []));
    buffer.push(event);
    if (buffer.length >= (this.options.bufferLimit ?? DEFAULT_BUFFER_LIMIT)) return this.flush();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
    return Promise.resolve();
  }

  /** Sends every non-empty buffer as one `<group>.multi` message, and waits for the publishes under way. */
  async flush(): Promise<void> {
    this.flushScheduled = false;
    for (const [group, events] of this.buffers) {
      if (events.length === 0) continue;
      const batch = events.splice(0, events.length);
      void this.track(this.publish(batch, `${group}.multi`, `${group}.multi`));
    }
    await Promise.all([...this.pending]);
  }

  private track(publishing: Promise<void>): Promise<void> {
    this.pending.add(publishing);
    void publishing.finally(() => this.pending.delete(publishing));
    return publishing;
  }

  private async publish(body: CeleryEvent | CeleryEvent[], routingKey: string, what: string): Promise<void> {
    if (this.outbound.length > 0) {
      this.hold({ body, routingKey, what });
      return;
    }
    try {
      await this.publishNow(body, routingKey);
    } catch (error) {
      this.failed(error, what);
      this.hold({ body, routingKey, what });
    }
  }

  private async publishNow(body: CeleryEvent | CeleryEvent[], routingKey: string): Promise<void> {
    const { broker, hostname } = this.options;
    await this.declareExchange();
    await broker.publish(eventMessage(body, hostname), {
      exchange: this.options.exchange ?? EVENT_EXCHANGE,
      routingKey,
    });
  }

  /** Events are best effort, as in Celery: a failure is logged once per outage rather than once per event. */
  private failed(error: unknown, what: string): void {
    if (this.failing) return;
    this.failing = true;
    this.options.logger.warn(
      { err: error },
      `Could not send ${what} event: ${(error as Error).message}; events are kept and sent once the broker is back`,
    );
  }

  /** Keeps an event for later; heartbeats are not kept (a stale one says nothing the next one will not). */
  private hold(item: Outbound): void {
    if (item.routingKey === 'worker.heartbeat') return;
    this.outbound.push(item);
    if (this.outbound.length > OUTBOUND_LIMIT) {
      this.outbound.shift();
      this.dropped++;
    }
    this.retryTimer ??= setTimeout(() => void this.resend(), RETRY_MS).unref();
  }

  /** Sends the kept events in order; stops at the first failure and tries again later. */
  private async resend(): Promise<void> {
    this.retryTimer = undefined;
    while (this.outbound.length > 0) {
      const item = this.outbound[0]!;
      try {
        await this.publishNow(item.body, item.routingKey);
      } catch {
        this.retryTimer ??= setTimeout(() => void this.resend(), RETRY_MS).unref();
        return;
      }
      this.outbound.shift();
    }
    this.failing = false;
    if (this.dropped > 0) {
      this.options.logger.warn(
        `${this.dropped} events were dropped while the broker was away (${OUTBOUND_LIMIT} kept)`,
      );
      this.dropped = 0;
    }
  }

  /** Stops retrying; events still kept are dropped (a dispatcher closing while the broker is away loses them). */
  close(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.outbound.length = 0;
  }
}

/**
 * The fields of `task-sent` as Celery's producer sends them (celery/app/amqp.py `sent_event`): read from the task
 * message's headers (protocol 2), plus where it went.
 */
export function taskSentFields(
  headers: Readonly<Record<string, unknown>>,
  where: { readonly queue: string | null; readonly exchange: string; readonly routingKey: string },
): EventFields {
  const pick = (key: string): JsonValue => {
    const value = headers[key];
    return value === undefined ? null : (value as JsonValue);
  };
  return {
    uuid: pick('id'),
    root_id: pick('root_id'),
    parent_id: pick('parent_id'),
    name: pick('task'),
    args: pick('argsrepr'),
    kwargs: pick('kwargsrepr'),
    retries: pick('retries'),
    eta: pick('eta'),
    expires: pick('expires'),
    queue: where.queue,
    exchange: where.exchange,
    routing_key: where.routingKey,
  };
}
