/**
 * `memory://[name]`: an in-process broker, the only fake, held to the same conformance suite as the real drivers.
 * Brokers with the same name in one process share their queues, so a producer app and a worker app can talk.
 */
import { ConnectionError } from '../../errors.js';
import type { WireMessage } from '../../protocol/message.js';
import {
  publishEach,
  type Broker,
  type BrokerCapabilities,
  type BrokerContext,
  type ConsumeOptions,
  type Consumer,
  type Delivery,
  type DeliveryHandler,
  type ExchangeSpec,
  type ExchangeType,
  type PublishItem,
  type PublishOptions,
  type QueueSpec,
  type RejectOptions,
  type Route,
  type Subscription,
  type SubscriptionHandler,
  type Subscriptions,
  type SubscriptionSpec,
} from '../broker.js';
import { inequivalentExchange, subscriptionQueue, type Binding } from '../exchange.js';
import { MemorySpace, type Held, type SpaceConsumer, type Stored } from './memory-space.js';

class MemoryConsumer implements Consumer, SpaceConsumer {
  held = 0;
  cancelled = false;

  constructor(
    readonly queues: readonly string[],
    readonly handler: DeliveryHandler,
    public prefetch: number,
    private readonly space: Space,
    readonly noAck = false,
  ) {}

  get hasCredit(): boolean {
    return !this.cancelled && (this.prefetch === 0 || this.held < this.prefetch);
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = prefetch;
    this.space.schedule();
  }

  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    this.space.consumers.delete(this);
    this.space.owners.delete(this);
    for (const queue of this.queues) this.space.armExpiry(queue);
  }
}

type Space = MemorySpace<MemoryBroker>;

const spaces = new Map<string, Space>();

export const memoryCapabilities: BrokerCapabilities = {
  fanout: true,
  topic: true,
  priority: 'native',
  delayedDelivery: true,
  consume: true,
  // Consumers live and die with their process, and so does everything in memory: nothing is lost while held.
  redeliversOnConsumerLoss: false,
  losesDeliveries: false,
  durable: false,
  shared: false,
  deadLetter: true,
  broadcast: 'queue',
  queueExpiry: true,
};

export class MemoryBroker implements Broker, Subscriptions {
  readonly capabilities = memoryCapabilities;
  readonly subscriptions: Subscriptions = this;
  readonly deferral = null;
  private readonly space: Space;
  private readonly subscribed = new Set<Subscription>();
  private closed = false;

  constructor(
    readonly url: string,
    name: string,
  ) {
    let space = spaces.get(name);
    if (!space) {
      space = new MemorySpace();
      spaces.set(name, space);
    }
    this.space = space;
  }

  /** Messages rejected without requeue, with their reasons (for tests and inspection). */
  get deadLetters(): readonly { queue: string; reason: string; message: WireMessage }[] {
    return this.space.deadLetters;
  }

  async connect(): Promise<void> {
    this.closed = false;
  }

  async declare(queues: readonly QueueSpec[]): Promise<void> {
    for (const spec of queues) {
      this.space.queue(spec.name);
      this.space.limit(spec.name, spec.messageTtlMs, spec.expiresMs);
      const exchange = spec.exchange ?? spec.name;
      if (exchange === '') continue;
      const entry = this.exchange(exchange, spec.exchangeType ?? 'direct');
      const routingKey = spec.routingKey ?? spec.name;
      if (!entry.bindings.some((b) => b.queue === spec.name && b.routingKey === routingKey)) {
        entry.bindings.push({ routingKey, queue: spec.name });
      }
    }
  }

  async declareExchange(exchange: ExchangeSpec): Promise<void> {
    const entry = this.exchange(exchange.name, exchange.type);
    if (entry.type !== exchange.type) throw inequivalentExchange(exchange, entry.type);
  }

  private exchange(name: string, type: ExchangeType): { type: ExchangeType; bindings: Binding[] } {
    let entry = this.space.exchanges.get(name);
    if (!entry) {
      entry = { type, bindings: [] };
      this.space.exchanges.set(name, entry);
    }
    return entry;
  }

  async publish(message: WireMessage, route: Route, options?: PublishOptions): Promise<void> {
    this.assertOpen();
    const stored: Stored = {
      message,
      exchange: route.exchange,
      routingKey: route.routingKey,
      redelivered: false,
      at: Date.now(),
    };
    this.space.enqueue(stored, options?.notBefore);
  }

  publishMany(items: readonly PublishItem[]): Promise<void> {
    return publishEach(this, items);
  }

  async consume(
    queues: readonly QueueSpec[],
    handler: DeliveryHandler,
    options: ConsumeOptions,
  ): Promise<Consumer> {
    return this.attach(queues, handler, options.prefetch, false);
  }

  private async attach(
    queues: readonly QueueSpec[],
    handler: DeliveryHandler,
    prefetch: number,
    noAck: boolean,
  ): Promise<MemoryConsumer> {
    this.assertOpen();
    await this.declare(queues);
    const names = queues.map((q) => q.name);
    const consumer = new MemoryConsumer(names, handler, prefetch, this.space, noAck);
    this.space.consumers.add(consumer);
    this.space.owners.set(consumer, this);
    this.space.inUse(names);
    this.space.schedule();
    return consumer;
  }

  async subscribe(spec: SubscriptionSpec, handler: SubscriptionHandler): Promise<Subscription> {
    await this.declareExchange(spec.exchange);
    const consumer = await this.attach([subscriptionQueue(spec)], (delivery) => handler(delivery), 0, true);
    const subscription: Subscription = {
      queue: spec.queue,
      cancel: async () => {
        if (!this.subscribed.delete(subscription)) return;
        await consumer.cancel();
        this.space.deleteQueue(spec.queue);
      },
    };
    this.subscribed.add(subscription);
    return subscription;
  }

  private settle(delivery: Delivery): Held<MemoryBroker> | undefined {
    const held = this.space.held.get(delivery.tag);
    if (!held) return undefined;
    this.space.held.delete(delivery.tag);
    held.consumer.held--;
    this.space.schedule();
    return held;
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    for (const delivery of deliveries) this.settle(delivery);
  }

  async reject(delivery: Delivery, options: RejectOptions): Promise<void> {
    const held = this.settle(delivery);
    if (!held) return;
    if (options.requeue) {
      this.space.queue(delivery.queue).push({ ...held.stored, redelivered: true });
    } else {
      this.space.deadLetters.push({
        queue: delivery.queue,
        reason: options.reason ?? 'rejected',
        message: delivery.message,
      });
    }
  }

  async requeue(deliveries: readonly Delivery[]): Promise<void> {
    for (const delivery of [...deliveries].reverse()) {
      const held = this.settle(delivery);
      if (held) this.space.queue(delivery.queue).push({ ...held.stored, redelivered: true }, true);
    }
  }

  async purge(queue: string): Promise<number> {
    return this.space.fresh(queue)?.clear() ?? 0;
  }

  async size(queue: string): Promise<number> {
    return this.space.fresh(queue)?.size ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscribed].map((s) => s.cancel()));
    for (const [consumer, owner] of this.space.owners) {
      if (owner === this) await (consumer as MemoryConsumer).cancel();
    }
    const mine = [...this.space.held.values()].filter((h) => h.owner === this).map((h) => h.delivery);
    await this.requeue(mine);
  }

  private assertOpen(): void {
    if (this.closed) throw new ConnectionError(`broker ${this.url} is closed`);
  }
}

export function createMemoryBroker(url: string, _context: BrokerContext): Broker {
  const name = url.replace(/^memory:\/\//, '').replace(/\/+$/, '') || 'default';
  return new MemoryBroker(url, name);
}
