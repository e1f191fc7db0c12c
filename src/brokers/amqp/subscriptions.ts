/**
 * Subscriptions on RabbitMQ, as kombu declares them for Celery (reference §2.6, observed with `rabbitmqctl`): the
 * exchange as given (`celeryev` topic durable, `celery.pidbox` fanout and `reply.celery.pidbox` direct, both
 * transient), a queue of its own (non-durable, auto-delete, not exclusive, `x-message-ttl` and `x-expires`) bound
 * with the key, consumed with `no_ack` on a channel of its own. The consumer re-opens (re-declaring the exchange and
 * queue) after a reconnect; cancelling it makes RabbitMQ delete the auto-delete queue.
 */
import type { Subscription, SubscriptionHandler, Subscriptions, SubscriptionSpec } from '../broker.js';
import type { AmqpConsumer } from './consumer.js';

export class AmqpSubscriptions implements Subscriptions {
  private readonly active = new Set<Subscription>();

  constructor(
    private readonly open: (spec: SubscriptionSpec, handler: SubscriptionHandler) => Promise<AmqpConsumer>,
  ) {}

  async subscribe(spec: SubscriptionSpec, handler: SubscriptionHandler): Promise<Subscription> {
    const consumer = await this.open(spec, handler);
    const subscription: Subscription = {
      queue: spec.queue,
      cancel: async () => {
        if (!this.active.delete(subscription)) return;
        await consumer.close();
      },
    };
    this.active.add(subscription);
    return subscription;
  }

  /** Cancels every subscription (the broker is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.active].map((s) => s.cancel()));
  }
}
