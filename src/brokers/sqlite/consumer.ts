/**
 * One `consume()` (or subscription) of the `sqlite://` broker: a loop that fetches while it has prefetch credit and
 * otherwise waits for a poke (a publish in this process, a settlement, cancel) or the polling interval.
 */
import type { Logger } from '../../lifecycle/logger.js';
import type { Consumer, Delivery, DeliveryHandler } from '../broker.js';

/** What a consumer needs from its broker. */
export interface SqliteConsumerHost {
  readonly logger: Logger;
  /** Longest wait between polls, in milliseconds. */
  readonly pollMs: number;
  /** Leases (or, for `noAck`, takes) up to `limit` ready messages for the consumer; returns how many. */
  fetchFor(consumer: SqliteConsumer, limit: number): number;
  forget(consumer: SqliteConsumer): void;
}

export class SqliteConsumer implements Consumer {
  readonly abort = new AbortController();
  held = 0;
  loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(
    readonly queues: readonly string[],
    readonly handler: DeliveryHandler,
    public prefetch: number,
    private readonly host: SqliteConsumerHost,
    /** Message TTLs of its queues that have one: expired messages are dropped before each fetch. */
    readonly ttls: ReadonlyMap<string, number>,
    /** Messages are deleted as they are handed over (subscriptions): nothing is held, nothing to settle. */
    readonly noAck: boolean,
    /** Told about held deliveries whose lease another consumer took (even after cancel: they are still held). */
    readonly onLost?: (deliveries: readonly Delivery[]) => void,
  ) {}

  get credit(): number {
    return this.prefetch === 0 ? 256 : Math.max(0, this.prefetch - this.held);
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = prefetch;
    this.poke();
  }

  poke(): void {
    this.wake?.();
  }

  async cancel(): Promise<void> {
    this.abort.abort();
    this.poke();
    await this.loop;
    this.host.forget(this);
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const credit = this.credit;
      let fetched = 0;
      if (credit > 0) {
        try {
          fetched = this.host.fetchFor(this, Math.min(credit, 256));
        } catch (error) {
          this.host.logger.error({ err: error }, `sqlite broker: fetch failed: ${(error as Error).message}`);
        }
      }
      if (fetched > 0 && fetched === Math.min(credit, 256)) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      await this.sleep(signal);
    }
  }

  private sleep(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        // One listener per wait would pile up on the signal for the consumer's lifetime.
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.host.pollMs);
      this.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
