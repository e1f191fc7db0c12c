/**
 * The state behind every `memory://name` broker of one name in one process: queues (ten priority lanes each),
 * exchanges with their bindings, consumers and the deliveries they hold, dead letters, and the per-queue TTL and
 * expiry of `QueueSpec.messageTtlMs` / `expiresMs`.
 */
import { uuid } from '../../protocol/ids.js';
import type { WireMessage } from '../../protocol/message.js';
import type { Delivery, DeliveryHandler, ExchangeType } from '../broker.js';
import { routeToQueues, type Binding } from '../exchange.js';

export interface Stored {
  readonly message: WireMessage;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  /** When it was published (ms), for queues with a message TTL. */
  readonly at: number;
}

/** Ten FIFO lanes, highest priority first; within a lane, oldest first. */
export class PriorityQueue {
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

  /** Drops the messages published before `cutoff` (ms). */
  dropOlderThan(cutoff: number): void {
    for (let lane = 0; lane < 10; lane++) {
      this.lanes[lane] = this.lanes[lane]!.slice(this.heads[lane]).filter((item) => item.at > cutoff);
      this.heads[lane] = 0;
    }
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

/** A consumer as the space sees it. `noAck` ones (subscriptions) hold nothing: a delivery is settled as it goes. */
export interface SpaceConsumer {
  readonly queues: readonly string[];
  readonly handler: DeliveryHandler;
  readonly noAck: boolean;
  held: number;
  readonly hasCredit: boolean;
}

export interface Held<Owner> {
  readonly delivery: Delivery;
  readonly stored: Stored;
  readonly consumer: SpaceConsumer;
  readonly owner: Owner;
}

interface QueueLimits {
  readonly ttlMs: number | undefined;
  readonly expiresMs: number | undefined;
  timer: NodeJS.Timeout | undefined;
}

export class MemorySpace<Owner> {
  readonly queues = new Map<string, PriorityQueue>();
  readonly exchanges = new Map<string, { type: ExchangeType; bindings: Binding[] }>();
  readonly consumers = new Set<SpaceConsumer>();
  readonly held = new Map<string, Held<Owner>>();
  readonly deadLetters: { queue: string; reason: string; message: WireMessage }[] = [];
  readonly owners = new Map<SpaceConsumer, Owner>();
  private readonly limits = new Map<string, QueueLimits>();
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

  /** Declares a queue's TTL and expiry; declaring it again (with or without them) counts as a use, for expiry. */
  limit(name: string, ttlMs: number | undefined, expiresMs: number | undefined): void {
    const previous = this.limits.get(name);
    clearTimeout(previous?.timer);
    if (ttlMs !== undefined || expiresMs !== undefined) {
      this.limits.set(name, { ttlMs, expiresMs, timer: undefined });
    }
    this.armExpiry(name);
  }

  /** Starts the expiry clock of a queue nobody consumes (`x-expires`: unused for that long, it goes). */
  armExpiry(name: string): void {
    const limits = this.limits.get(name);
    if (limits?.expiresMs === undefined) return;
    clearTimeout(limits.timer);
    limits.timer = undefined;
    if ([...this.consumers].some((c) => c.queues.includes(name))) return;
    limits.timer = setTimeout(() => this.deleteQueue(name), limits.expiresMs);
    limits.timer.unref();
  }

  /** Stops the expiry clock of a queue that has a consumer now. */
  inUse(names: readonly string[]): void {
    for (const name of names) {
      const limits = this.limits.get(name);
      clearTimeout(limits?.timer);
      if (limits) limits.timer = undefined;
    }
  }

  /** Removes a queue, its messages and its bindings. */
  deleteQueue(name: string): void {
    clearTimeout(this.limits.get(name)?.timer);
    this.limits.delete(name);
    this.queues.delete(name);
    for (const entry of this.exchanges.values()) {
      entry.bindings = entry.bindings.filter((b) => b.queue !== name);
    }
  }

  /** Drops the messages of a queue that waited longer than its TTL; returns the queue. */
  fresh(name: string): PriorityQueue | undefined {
    const queue = this.queues.get(name);
    const ttl = this.limits.get(name)?.ttlMs;
    if (queue && ttl !== undefined) queue.dropOlderThan(Date.now() - ttl);
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
          const stored = this.next(name);
          if (!stored) continue;
          this.deliver(consumer, name, stored);
          progress = true;
          break;
        }
      }
      this.rotation++;
    }
  }

  private next(name: string): Stored | undefined {
    const queue = this.queues.get(name);
    const ttl = this.limits.get(name)?.ttlMs;
    for (;;) {
      const stored = queue?.shift();
      if (!stored || ttl === undefined || stored.at > Date.now() - ttl) return stored;
    }
  }

  private deliver(consumer: SpaceConsumer, queue: string, stored: Stored): void {
    const delivery: Delivery = {
      message: stored.message,
      queue,
      tag: uuid(),
      exchange: stored.exchange,
      routingKey: stored.routingKey,
      redelivered: stored.redelivered,
    };
    if (!consumer.noAck) {
      consumer.held++;
      this.held.set(delivery.tag, { delivery, stored, consumer, owner: this.owners.get(consumer)! });
    }
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
      setTimeout(() => this.enqueue({ ...stored, at: Date.now() }), wait).unref();
      return;
    }
    if (stored.exchange === '') {
      this.queue(stored.routingKey).push(stored);
    } else {
      const entry = this.exchanges.get(stored.exchange);
      const queues = entry ? routeToQueues(entry.type, entry.bindings, stored.routingKey) : [];
      for (const name of queues) this.queue(name).push(stored);
    }
    this.schedule();
  }
}
