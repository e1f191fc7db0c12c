/**
 * Sends events. The worker owns one dispatcher: enabled (events published through the broker to `celeryev`) when
 * `workerSendTaskEvents` is on, else a no-op. Kept behind this small interface so monitoring (heartbeats,
 * `task.multi` batching, receivers) can grow it without touching the executor.
 */
import type { Broker, ExchangeSpec } from '../brokers/broker.js';
import type { Logger } from '../lifecycle/logger.js';
import { buildEvent, EVENT_EXCHANGE, eventMessage, eventRoutingKey, type EventFields } from './event.js';

export interface EventDispatcher {
  readonly enabled: boolean;
  /** Publishes one event; never throws (a lost event is logged, it never fails a task). */
  send(type: string, fields: EventFields): Promise<void>;
}

/** Events off: every send is a no-op. */
export const disabledDispatcher: EventDispatcher = {
  enabled: false,
  send: async () => undefined,
};

export interface BrokerDispatcherOptions {
  readonly broker: Broker;
  readonly hostname: string;
  readonly logger: Logger;
  /** Exchange name (`event_exchange`), default `celeryev`. */
  readonly exchange?: string;
}

/**
 * The event exchange as Celery declares it (`celery/events/event.py get_exchange`): a durable topic exchange, but a
 * fanout one where broadcasts travel by pub/sub (Redis), so that events are PUBLISHed to the monitors listening
 * and never pile up in the lists of receivers that are gone.
 */
export function eventExchange(broker: Broker, name: string = EVENT_EXCHANGE): ExchangeSpec {
  return { name, type: broker.capabilities.broadcast === 'pubsub' ? 'fanout' : 'topic', durable: true };
}

/** Publishes each event at once, with a Lamport clock that ticks on every send (Celery's `clock.forward()`). */
export class BrokerEventDispatcher implements EventDispatcher {
  readonly enabled = true;
  private clock = 0;
  private warned = false;
  /** The exchange is declared before the first event (kombu's `declare=[exchange]`), then once per dispatcher. */
  private declared: Promise<void> | undefined;

  constructor(private readonly options: BrokerDispatcherOptions) {}

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

  async send(type: string, fields: EventFields): Promise<void> {
    const { broker, hostname, logger } = this.options;
    const event = buildEvent(type, fields, {
      hostname,
      pid: process.pid,
      clock: ++this.clock,
      now: Date.now(),
    });
    try {
      await this.declareExchange();
      await broker.publish(eventMessage(event, hostname), {
        exchange: this.options.exchange ?? EVENT_EXCHANGE,
        routingKey: eventRoutingKey(type),
      });
    } catch (error) {
      // Events are best effort, as in Celery; say so once rather than once per task.
      if (!this.warned) {
        this.warned = true;
        logger.warn({ err: error }, `Could not send ${type} event: ${(error as Error).message}`);
      }
    }
  }
}
