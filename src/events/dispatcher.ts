/**
 * Sends events. The worker owns one dispatcher: enabled (events published through the broker to `celeryev`) when
 * `workerSendTaskEvents` is on, else a no-op. Kept behind this small interface so monitoring (heartbeats,
 * `task.multi` batching, receivers) can grow it without touching the executor.
 */
import type { Broker } from '../brokers/broker.js';
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

/** Publishes each event at once, with a Lamport clock that ticks on every send (Celery's `clock.forward()`). */
export class BrokerEventDispatcher implements EventDispatcher {
  readonly enabled = true;
  private clock = 0;
  private warned = false;

  constructor(private readonly options: BrokerDispatcherOptions) {}

  async send(type: string, fields: EventFields): Promise<void> {
    const { broker, hostname, logger } = this.options;
    const event = buildEvent(type, fields, {
      hostname,
      pid: process.pid,
      clock: ++this.clock,
      now: Date.now(),
    });
    try {
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
