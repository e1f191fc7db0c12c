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
    const { broker, hostname, logger } = this.options;
    try {
      await this.declareExchange();
      await broker.publish(eventMessage(body, hostname), {
        exchange: this.options.exchange ?? EVENT_EXCHANGE,
        routingKey,
      });
      this.failing = false;
    } catch (error) {
      // Events are best effort, as in Celery; say so once per outage rather than once per event.
      if (!this.failing) {
        this.failing = true;
        logger.warn({ err: error }, `Could not send ${what} event: ${(error as Error).message}`);
      }
    }
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
