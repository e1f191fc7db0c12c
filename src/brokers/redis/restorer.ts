/**
 * The restorer: gives abandoned deliveries back to their queues, as kombu's `QoS.restore_visible` does
 * (`kombu/transport/redis.py:396`, reference §2.5.5) and compatibly with it: the same `unacked_mutex` (a redis-py
 * style lock, SET NX PX with a token, released by compare-and-delete), the same ceiling (`now - visibility_timeout`
 * against `unacked_index`), the same rewrite (`headers.redelivered` and `delivery_info.redelivered` set) and RPUSH,
 * so the restored message is consumed next. Routing follows the entry's exchange and routing key through the
 * `_kombu.binding.*` sets; an entry that routes nowhere is dead-lettered instead of dropped.
 *
 * Leases renewed by live Celeriac consumers are never old enough to be restored. Kombu restores at worker start and
 * about every 100 s; this runs when a consumer starts and every `restoreInterval`.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lifecycle/logger.js';
import type { RedisConnection } from '../../transport/redis/client.js';
import type { KeyLayout } from './keys.js';
import { markRedelivered, scoreNow } from './leases.js';
import { releaseMutexScript, renewMutexScript, restoreScript } from './lua/restore.js';
import type { RedisBrokerOptions } from './options.js';

export type QueueLookup = (exchange: string, routingKey: string) => Promise<string[]>;

interface Entry {
  tag: string;
  payload: string;
  destinations: string[];
}

const BATCH = 500;

/**
 * Seconds the restore mutex is taken for at most, renewed every third of it while the sweep runs: a worker that
 * dies mid-sweep blocks everyone's restores for this long, not for kombu's `unacked_mutex_expire` (300 s), which
 * stays the upper bound.
 */
export const MUTEX_LEASE_SECONDS = 10;

export class Restorer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly conn: RedisConnection,
    private readonly keys: KeyLayout,
    private readonly options: RedisBrokerOptions,
    private readonly logger: Logger,
    private readonly lookup: QueueLookup,
  ) {}

  start(): void {
    if (this.timer) return;
    this.trigger();
    this.timer = setInterval(() => this.trigger(), this.options.restoreInterval * 1000);
    this.timer.unref();
  }

  /**
   * Stops the timer and waits for a sweep in progress, so that it releases `unacked_mutex` before the connection
   * closes (a mutex left behind blocks every worker's restores, Python ones too, until its short lease ends).
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private trigger(): void {
    if (!this.conn.ready) return;
    this.sweep().catch((error: unknown) => {
      this.logger.warn(`Restoring unacknowledged messages failed: ${(error as Error).message}`);
    });
  }

  /** One sweep under the mutex; resolves with how many deliveries were restored (0 if another holder sweeps). */
  sweep(): Promise<number> {
    this.running ??= this.sweepOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweepOnce(): Promise<number> {
    const client = this.conn.client;
    const token = randomUUID().replace(/-/g, '');
    const leaseMs = Math.min(this.options.unackedMutexExpire, MUTEX_LEASE_SECONDS) * 1000;
    const locked = await client.set(this.keys.unackedMutex, token, 'PX', leaseMs, 'NX');
    if (locked !== 'OK') return 0;
    let restored = 0;
    const renewal = setInterval(() => {
      renewMutexScript.run(client, [this.keys.unackedMutex], [token, leaseMs]).catch(() => undefined);
    }, leaseMs / 3);
    renewal.unref();
    try {
      const ceiling = Number(scoreNow()) - this.options.visibilityTimeout;
      let budget = this.options.unackedRestoreLimit ?? Number.POSITIVE_INFINITY;
      while (budget > 0) {
        const count = Math.min(BATCH, budget);
        const tags = await client.zrevrangebyscore(this.keys.unackedIndex, ceiling, 0, 'LIMIT', 0, count);
        if (tags.length === 0) break;
        const payloads = await client.hmget(this.keys.unacked, ...tags);
        const entries = await Promise.all(tags.map((tag, i) => this.entry(tag, payloads[i] ?? null)));
        restored += await this.restore(ceiling, entries);
        budget -= tags.length;
        if (tags.length < count) break;
      }
    } finally {
      clearInterval(renewal);
      await releaseMutexScript.run(client, [this.keys.unackedMutex], [token]).catch(() => undefined);
    }
    if (restored > 0) {
      this.logger.warn(
        `Restored ${restored} unacknowledged message(s) whose lease ran past the visibility timeout ` +
          `(${this.options.visibilityTimeout}s): their worker stopped or lost its connection`,
      );
    }
    return restored;
  }

  /** What to push where for one `unacked` entry (kombu's `[envelope, exchange, routing_key]`). */
  private async entry(tag: string, value: string | null): Promise<Entry> {
    if (value === null) return { tag, payload: '', destinations: [] };
    let envelope: unknown;
    let exchange = '';
    let routingKey = '';
    try {
      const parsed = JSON.parse(value) as unknown;
      if (!Array.isArray(parsed) || parsed.length < 3)
        throw new Error('not [envelope, exchange, routing_key]');
      [envelope, exchange, routingKey] = parsed as [unknown, string, string];
    } catch (error) {
      return this.deadEntry(tag, 'unacked', value, `restore-unparseable: ${(error as Error).message}`);
    }
    const raw = typeof envelope === 'string' ? envelope : JSON.stringify(envelope);
    const queues = await this.lookup(String(exchange), String(routingKey));
    if (queues.length === 0) {
      return this.deadEntry(
        tag,
        String(routingKey) || 'unroutable',
        raw,
        `restore-unroutable: exchange "${exchange}"`,
      );
    }
    const priority = (envelope as { properties?: { priority?: unknown } } | null)?.properties?.priority;
    const bucket = this.keys.bucket(priority);
    return {
      tag,
      payload: markRedelivered(raw),
      destinations: queues.map((q) => this.keys.queueKey(q, bucket)),
    };
  }

  private deadEntry(tag: string, queue: string, raw: string, reason: string): Entry {
    this.logger.error(
      `Could not restore ${tag} to a queue (${reason}); it is kept in the dead letters of ${queue}`,
    );
    const payload = JSON.stringify({ reason, queue, time: Date.now() / 1000, envelope: raw });
    return { tag, payload, destinations: [this.keys.deadLetterKey(queue)] };
  }

  private async restore(ceiling: number, entries: Entry[]): Promise<number> {
    const keys = [this.keys.unacked, this.keys.unackedIndex];
    const position = new Map<string, number>();
    const args: (string | number)[] = [ceiling];
    for (const entry of entries) {
      args.push(entry.tag, entry.payload, entry.destinations.length);
      for (const key of entry.destinations) {
        let at = position.get(key);
        if (at === undefined) {
          keys.push(key);
          at = keys.length;
          position.set(key, at);
        }
        args.push(at);
      }
    }
    return Number(await restoreScript.run(this.conn.client, keys, args));
  }
}
