/**
 * A consumer of queue lists: fetches batches while it has prefetch credit, and waits without polling when the
 * lists are empty.
 *
 * Waiting: BRPOP would take the message out of Redis before it is recorded in `unacked` (a crash in between loses
 * it). Instead each list key gets a waiter connection blocked in `BLMOVE key key RIGHT RIGHT timeout`, which
 * returns as soon as the list holds something and leaves the list exactly as it was (it pops the tail and pushes
 * it back in one command). The consumer then runs the atomic fetch script (lua/fetch.ts), so every message is at
 * all times in its list or in `unacked`. Waiters are armed only after a fetch came back short (the lists were
 * empty) and while there is credit, so a non-empty list never makes them spin. A waiter's timeout re-arms it; a
 * lost connection wakes the consumer once the connection is back, and the consumer also fetches on its own every
 * `waitTimeout`, so it never stays idle next to a non-empty queue (reference Part 3, item 6).
 */
import type { Logger } from '../../lifecycle/logger.js';
import type { RedisConnection } from '../../transport/redis/client.js';
import type { Consumer, Delivery, DeliveryHandler } from '../broker.js';
import type { LeaseOwner } from './leases.js';

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  readonly logger: Logger;
  readonly fetchBatchSize: number;
  /** Seconds a blocking wait lasts; a reply overdue by `socketTimeout` seconds means the connection is dead. */
  readonly waitTimeout: number;
  readonly socketTimeout: number;
  /** The main connection is ready, or this resolves when it is (rejects when the broker closes). */
  whenReady(signal: AbortSignal): Promise<void>;
  fetch(owner: LeaseOwner, cycle: string[], limit: number): Promise<Delivery[]>;
  /** Every list key of these queues, highest priority first. */
  listKeys(queues: readonly string[]): string[];
  /** A new connection for one waiter. */
  waiterConnection(key: string): RedisConnection;
  forget(consumer: RedisConsumer): void;
}

class ListWaiter {
  armed = false;

  constructor(
    readonly key: string,
    readonly conn: RedisConnection,
    private readonly timeout: number,
    private readonly grace: number,
    private readonly onMessage: () => void,
    private readonly signal: AbortSignal,
  ) {}

  arm(): void {
    if (this.armed || this.signal.aborted) return;
    this.armed = true;
    // A blocked connection cannot be PINGed: a reply overdue by `grace` seconds means a silent partition.
    const cancel = this.conn.deadline((this.timeout + this.grace) * 1000, 'a blocking wait');
    this.conn.client.blmove(this.key, this.key, 'RIGHT', 'RIGHT', this.timeout).then(
      (value) => {
        cancel();
        this.armed = false;
        if (value !== null) this.onMessage();
        else this.arm();
      },
      () => {
        cancel();
        this.armed = false;
        if (this.signal.aborted) return;
        // The connection dropped: once it is back, let the consumer fetch (and re-arm after a short fetch).
        this.conn.whenReady(this.signal).then(this.onMessage, () => undefined);
      },
    );
  }
}

export class RedisConsumer implements Consumer, LeaseOwner {
  /** Deliveries handed out and not settled yet. */
  held = 0;
  private readonly abort = new AbortController();
  private readonly cycle: string[];
  private waiters: ListWaiter[] = [];
  private wake: (() => void) | undefined;
  private woken = false;
  /**
   * The last fetch came back short (every list was empty) and the waiters are armed: a settled delivery then
   * needs no fetch of its own (it would find nothing); the waiters say when a message comes.
   */
  private listsEmpty = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: ConsumerHost,
    queues: readonly string[],
    private readonly handler: DeliveryHandler,
    private prefetch: number,
    private readonly onLost?: (deliveries: readonly Delivery[]) => void,
  ) {
    this.cycle = [...queues];
  }

  start(): void {
    const signal = this.abort.signal;
    this.waiters = this.host.listKeys(this.cycle).map(
      (key) =>
        new ListWaiter(
          key,
          this.host.waiterConnection(key),
          this.host.waitTimeout,
          this.host.socketTimeout,
          () => {
            this.listsEmpty = false;
            this.poke();
          },
          signal,
        ),
    );
    this.loop = this.run();
  }

  private get credit(): number {
    const batch = this.host.fetchBatchSize;
    return this.prefetch === 0 ? batch : Math.min(batch, Math.max(0, this.prefetch - this.held));
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = prefetch;
    this.poke();
  }

  released(count: number): void {
    this.held -= count;
    if (!this.listsEmpty) this.poke();
  }

  lost(deliveries: readonly Delivery[]): void {
    this.onLost?.(deliveries);
  }

  private poke(): void {
    this.woken = true;
    this.wake?.();
  }

  /** Waits for a poke (a message, credit, a reconnect, cancel) or `ms`, whichever comes first. */
  private sleep(ms: number): Promise<void> {
    if (this.woken || this.abort.signal.aborted) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const signal = this.abort.signal;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const { logger } = this.host;
    let failures = 0;
    while (!signal.aborted) {
      const credit = this.credit;
      if (credit === 0) {
        await this.sleep(this.host.waitTimeout * 1000);
        continue;
      }
      let deliveries: Delivery[];
      try {
        await this.host.whenReady(signal);
        this.woken = false;
        deliveries = await this.host.fetch(this, this.cycle, credit);
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        // The first failure, then about once a minute while it lasts: never silently idle.
        if (failures % 30 === 1) {
          logger.warn(`Fetching from Redis failed (${failures}x): ${(error as Error).message}; retrying`);
        }
        await this.sleep(Math.min(2_000, 50 * 2 ** failures));
        continue;
      }
      this.listsEmpty = deliveries.length < credit;
      for (const delivery of deliveries) this.deliver(delivery);
      if (deliveries.length >= credit) {
        // Full batch: there may be more; let I/O (acks, results) through before fetching again.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      for (const waiter of this.waiters) waiter.arm();
      await this.sleep(this.host.waitTimeout * 1000);
    }
  }

  private deliver(delivery: Delivery): void {
    this.held++;
    try {
      this.handler(delivery);
    } catch (error) {
      this.host.logger.error({ err: error }, `Delivery handler threw: ${(error as Error).message}`);
    }
  }

  /** Stops fetching; deliveries already handed out stay held until settled. Idempotent. */
  async cancel(): Promise<void> {
    if (this.abort.signal.aborted) return this.loop;
    this.abort.abort();
    this.wake?.();
    await Promise.all(this.waiters.map((w) => w.conn.close(false)));
    await this.loop;
    this.host.forget(this);
  }
}
