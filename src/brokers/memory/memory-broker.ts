/**
 * `memory://[name]`: an in-process broker, the only fake, held to the same conformance suite as the real drivers.
 * Brokers with the same name in one process share their queues, so a producer app and a worker app can talk.
 */
import { ConnectionError } from '../../errors.js';
import { uuid } from '../../protocol/ids.js';
import type { WireMessage } from '../../protocol/message.js';
import type {
  Broker,
  BrokerCapabilities,
  BrokerContext,
  ConsumeOptions,
  Consumer,
  Delivery,
  DeliveryHandler,
  ExchangeType,
  PublishOptions,
  QueueSpec,
  RejectOptions,
  Route,
} from '../broker.js';
import { routeToQueues, type Binding } from '../exchange.js';

interface Stored {
  message: WireMessage;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
}

/** Ten FIFO lanes, highest priority first; within a lane, oldest first. */
class PriorityQueue {
  private readonly lanes: Stored[][] = Array.from({ length: 10 }, () => []);
  private readonly heads = new Array<number>(10).fill(0);

  push(item: Stored, front = false): void {
    const lane = laneFor(item.message);
    if (front) {
      if (this.heads[lane]! > 0) this.lanes[lane]![--this.heads[lane]!] = item;
      else this.lanes[lane]!.unshift(item);
    } else {
      this.lanes[lane]!.push(item);
    }
  }

  shift(): Stored | undefined {
    for (let lane = 9; lane >= 0; lane--) {
      const items = this.lanes[lane]!;
      const head = this.heads[lane]!;
      if (head < items.length) {
        const item = items[head]!;
        this.heads[lane] = head + 1;
        if (head + 1 > 1024 && head + 1 > items.length / 2) {
          items.splice(0, head + 1);
          this.heads[lane] = 0;
        }
        return item;
      }
    }
    return undefined;
  }

  get size(): number {
    return this.lanes.reduce((n, items, lane) => n + items.length - this.heads[lane]!, 0);
  }

  clear(): number {
    const n = this.size;
    for (let lane = 0; lane < 10; lane++) {
      this.lanes[lane] = [];
      this.heads[lane] = 0;
    }
    return n;
  }
}

function laneFor(message: WireMessage): number {
  const p = message.properties.priority;
  return typeof p === 'number' ? Math.max(0, Math.min(9, Math.trunc(p))) : 0;
}

class MemoryConsumer implements Consumer {
  held = 0;
  cancelled = false;

  constructor(
    readonly queues: readonly string[],
    readonly handler: DeliveryHandler,
    public prefetch: number,
    private readonly space: MemorySpace,
  ) {}

  get hasCredit(): boolean {
    return !this.cancelled && (this.prefetch === 0 || this.held < this.prefetch);
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = prefetch;
    this.space.schedule();
  }

  async cancel(): Promise<void> {
    this.cancelled = true;
    this.space.consumers.delete(this);
  }
}

interface Held {
  delivery: Delivery;
  stored: Stored;
  consumer: MemoryConsumer;
  owner: MemoryBroker;
}

/** The shared state behind every memory broker of one name. */
class MemorySpace {
  readonly queues = new Map<string, PriorityQueue>();
  readonly exchanges = new Map<string, { type: ExchangeType; bindings: Binding[] }>();
  readonly consumers = new Set<MemoryConsumer>();
  readonly held = new Map<string, Held>();
  readonly deadLetters: { queue: string; reason: string; message: WireMessage }[] = [];
  readonly owners = new Map<MemoryConsumer, MemoryBroker>();
  private scheduled = false;
  private rotation = 0;

  queue(name: string): PriorityQueue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new PriorityQueue();
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Dispatches on the next tick, so that publish never re-enters a handler synchronously. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    const consumers = [...this.consumers];
    if (consumers.length === 0) return;
    let progress = true;
    while (progress) {
      progress = false;
      for (let i = 0; i < consumers.length; i++) {
        const consumer = consumers[(this.rotation + i) % consumers.length]!;
        if (!consumer.hasCredit) continue;
        for (const name of consumer.queues) {
          const stored = this.queues.get(name)?.shift();
          if (!stored) continue;
          this.deliver(consumer, name, stored);
          progress = true;
          break;
        }
      }
      this.rotation++;
    }
  }

  private deliver(consumer: MemoryConsumer, queue: string, stored: Stored): void {
    const delivery: Delivery = {
      message: stored.message,
      queue,
      tag: uuid(),
      exchange: stored.exchange,
      routingKey: stored.routingKey,
      redelivered: stored.redelivered,
    };
    consumer.held++;
    this.held.set(delivery.tag, { delivery, stored, consumer, owner: this.owners.get(consumer)! });
    try {
      consumer.handler(delivery);
    } catch {
      // A throwing handler is a bug in the caller; the delivery stays held until it is settled.
    }
  }

  /** Routes a message to its queues, now or at `notBefore` (held by the space, so it outlives its producer). */
  enqueue(stored: Stored, notBefore?: number): void {
    const wait = notBefore === undefined ? 0 : notBefore - Date.now();
    if (wait > 0) {
      setTimeout(() => this.enqueue(stored), wait).unref();
      return;
    }
    const queues =
      stored.exchange === ''
        ? [stored.routingKey]
        : (() => {
            const entry = this.exchanges.get(stored.exchange);
            return entry ? routeToQueues(entry.type, entry.bindings, stored.routingKey) : [];
          })();
    for (const name of queues) this.queue(name).push(stored);
    this.schedule();
  }
}

const spaces = new Map<string, MemorySpace>();

export const memoryCapabilities: BrokerCapabilities = {
  fanout: true,
  topic: true,
  priority: 'native',
  delayedDelivery: true,
  redeliversOnConsumerLoss: true,
  durable: false,
  shared: false,
  deadLetter: true,
};

export class MemoryBroker implements Broker {
  readonly capabilities = memoryCapabilities;
  private readonly space: MemorySpace;
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
      const exchange = spec.exchange ?? spec.name;
      if (exchange === '') continue;
      let entry = this.space.exchanges.get(exchange);
      if (!entry) {
        entry = { type: spec.exchangeType ?? 'direct', bindings: [] };
        this.space.exchanges.set(exchange, entry);
      }
      const routingKey = spec.routingKey ?? spec.name;
      if (!entry.bindings.some((b) => b.queue === spec.name && b.routingKey === routingKey)) {
        entry.bindings.push({ routingKey, queue: spec.name });
      }
    }
  }

  async publish(message: WireMessage, route: Route, options?: PublishOptions): Promise<void> {
    this.assertOpen();
    const stored: Stored = {
      message,
      exchange: route.exchange,
      routingKey: route.routingKey,
      redelivered: false,
    };
    this.space.enqueue(stored, options?.notBefore);
  }

  async consume(
    queues: readonly QueueSpec[],
    handler: DeliveryHandler,
    options: ConsumeOptions,
  ): Promise<Consumer> {
    this.assertOpen();
    await this.declare(queues);
    const consumer = new MemoryConsumer(
      queues.map((q) => q.name),
      handler,
      options.prefetch,
      this.space,
    );
    this.space.consumers.add(consumer);
    this.space.owners.set(consumer, this);
    this.space.schedule();
    return consumer;
  }

  private settle(delivery: Delivery): Held | undefined {
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
    return this.space.queues.get(queue)?.clear() ?? 0;
  }

  async size(queue: string): Promise<number> {
    return this.space.queues.get(queue)?.size ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [consumer, owner] of this.space.owners) {
      if (owner !== this) continue;
      consumer.cancelled = true;
      this.space.consumers.delete(consumer);
      this.space.owners.delete(consumer);
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
