/**
 * Deliveries this broker holds, and their leases in kombu's bookkeeping (`unacked` + `unacked_index`).
 *
 * A fetch moves messages into the bookkeeping atomically (lua/fetch.ts). While a delivery is held (prefetched,
 * waiting for its ETA, or running) the lease keeper re-scores it in `unacked_index` every `leaseRenewInterval`, so
 * no worker's restore (kombu's included) takes it for abandoned: this is what stops Celery's duplicate runs of
 * long ETA tasks (reference Part 3, item 1). Acks, rejects and give-backs are fenced by the scores this broker
 * wrote (lua/settle.ts), and retried across reconnects until the broker is closed.
 */
import { ConnectionError, InvalidTaskError } from '../../errors.js';
import type { Logger } from '../../lifecycle/logger.js';
import { isConnectionFailure, type RedisConnection } from '../../transport/redis/client.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import { uuid } from '../../protocol/ids.js';
import type { Delivery } from '../broker.js';
import type { KeyLayout } from './keys.js';
import { fetchScript } from './lua/fetch.js';
import { ackScript, deadLetterScript, giveBackScript, renewScript } from './lua/settle.js';
import type { RedisBrokerOptions } from './options.js';

/** Who holds a delivery: told when it is settled, so it can fetch more (prefetch credit). */
export interface LeaseOwner {
  released(count: number): void;
  /** Deliveries whose lease was lost (restored for another worker): they must not run here any more. */
  lost?(deliveries: readonly Delivery[]): void;
}

interface Held {
  readonly delivery: Delivery;
  readonly raw: string;
  /** The list it was fetched from: a give-back returns it there (same queue, same priority bucket). */
  readonly listKey: string;
  readonly owner: LeaseOwner;
  /** The `unacked_index` score this broker wrote last, and the last one Redis confirmed (equal when settled). */
  score: string;
  confirmed: string;
  /** Restored for another worker while held: settling it is a no-op. */
  lost: boolean;
}

/** kombu's `time()` as a score string, to the microsecond. */
export function scoreNow(): string {
  return ((performance.timeOrigin + performance.now()) / 1000).toFixed(6);
}

/** The envelope as kombu restores it: `headers.redelivered` and `properties.delivery_info.redelivered` set. */
export function markRedelivered(raw: string): string {
  try {
    const envelope = JSON.parse(raw) as {
      headers?: Record<string, unknown>;
      properties?: { delivery_info?: Record<string, unknown> };
    };
    if (typeof envelope.headers !== 'object' || envelope.headers === null) return raw;
    envelope.headers.redelivered = true;
    const info = envelope.properties?.delivery_info;
    if (typeof info === 'object' && info !== null) info.redelivered = true;
    return JSON.stringify(envelope);
  } catch {
    return raw;
  }
}

const CHUNK = 1000;

export class Leases {
  private readonly held = new Map<string, Held>();
  private renewer: NodeJS.Timeout | undefined;
  private renewing = false;
  private readonly closed = new AbortController();

  constructor(
    private readonly conn: RedisConnection,
    private readonly keys: KeyLayout,
    private readonly options: RedisBrokerOptions,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.held.size;
  }

  /** Fetches up to `limit` messages from `cycle` (queue names, in consuming order; rotated in place). */
  async fetch(owner: LeaseOwner, cycle: string[], limit: number): Promise<Delivery[]> {
    const order = [...cycle];
    const listKeys = this.keys.prioritySteps.flatMap((step) => order.map((q) => this.keys.queueKey(q, step)));
    const score = scoreNow();
    const rotate = this.options.queueOrderStrategy === 'round_robin';
    const reply = (await fetchScript.run(
      this.conn.client,
      [this.keys.unacked, this.keys.unackedIndex, ...listKeys],
      [order.length, limit, score, rotate ? '1' : '0', uuid(), ...order],
    )) as (number | string)[];
    const deliveries: Delivery[] = [];
    const poison: [Held, string][] = [];
    for (let i = 0; i < reply.length; i += 3) {
      const queue = order[Number(reply[i]) - 1]!;
      const tag = String(reply[i + 1]);
      const raw = String(reply[i + 2]);
      if (rotate) cycle.push(...cycle.splice(cycle.indexOf(queue), 1));
      const decoded = this.toDelivery(queue, tag, raw);
      if (decoded instanceof Error) {
        poison.push([this.record(placeholder(queue, tag), raw, '', owner, score), reasonOf(decoded)]);
        continue;
      }
      const listKey = this.keys.queueKey(queue, this.keys.bucket(decoded.message.properties.priority));
      this.held.set(tag, this.record(decoded, raw, listKey, owner, score));
      deliveries.push(decoded);
    }
    // Not even an envelope: nothing can run it. Keep it visible in the dead letters, with the reason.
    for (const [held, reason] of poison) {
      this.logger.error(
        `Discarded a message of ${held.delivery.queue} that is not a kombu envelope (${reason})`,
      );
      await this.deadLetter(held, reason, false).catch((error: unknown) => {
        this.logger.warn(`Could not dead-letter it (${(error as Error).message}); it is restored later`);
      });
    }
    return deliveries;
  }

  private record(delivery: Delivery, raw: string, listKey: string, owner: LeaseOwner, score: string): Held {
    return { delivery, raw, listKey, owner, score, confirmed: score, lost: false };
  }

  private toDelivery(queue: string, tag: string, raw: string): Delivery | Error {
    try {
      const decoded = decodeEnvelope(raw);
      return {
        message: decoded.message,
        queue,
        tag,
        exchange: decoded.exchange,
        routingKey: decoded.routingKey || queue,
        redelivered: decoded.redelivered,
      };
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /**
   * Runs `fn`, retrying after each reconnect while the failure is a connection failure, for at most
   * `settleRetryTimeout` seconds (so that a shutdown during an outage ends) and never after close. A delivery
   * whose settlement gave up stays in `unacked` without renewals: it comes back after the visibility timeout.
   */
  private async retrying<T>(what: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    let deadline: AbortSignal | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (error) {
        // Only a failure pays for the timer.
        deadline ??= AbortSignal.any([
          this.closed.signal,
          AbortSignal.timeout(this.options.settleRetryTimeout * 1000),
        ]);
        if (!isConnectionFailure(error) || deadline.aborted) throw error;
        if (attempt === 0)
          this.logger.warn(`${what} failed (${(error as Error).message}); retrying after reconnecting`);
        await this.conn.whenReady(deadline).catch(() => undefined);
        if (deadline.aborted) {
          throw new ConnectionError(
            `${what} failed: Redis did not come back within ${this.options.settleRetryTimeout}s ` +
              '(the messages come back after the visibility timeout)',
            { cause: error },
          );
        }
      }
    }
  }

  private take(deliveries: readonly Delivery[]): Held[] {
    const taken: Held[] = [];
    const released = new Map<LeaseOwner, number>();
    for (const delivery of deliveries) {
      const held = this.held.get(delivery.tag);
      if (!held || held.delivery !== delivery) continue;
      this.held.delete(delivery.tag);
      taken.push(held);
      released.set(held.owner, (released.get(held.owner) ?? 0) + 1);
    }
    for (const [owner, count] of released) owner.released(count);
    return taken;
  }

  private triples(held: readonly Held[]): string[] {
    return held.flatMap((h) => [h.delivery.tag, h.score, h.confirmed]);
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    const taken = this.take(deliveries).filter((h) => !h.lost);
    for (let i = 0; i < taken.length; i += CHUNK) {
      const chunk = taken.slice(i, i + CHUNK);
      const keys = [this.keys.unacked, this.keys.unackedIndex];
      const lost = await this.retrying('Acknowledging deliveries', async (attempt) => {
        const reply = (await ackScript.run(this.conn.client, keys, this.triples(chunk))) as string[];
        // After a lost reply the first attempt may have removed them already: not a lost lease.
        return attempt === 0 ? reply : [];
      });
      if (lost.length > 0) {
        this.logger.warn(
          `Acknowledgement of ${lost.length} delivery(ies) ignored: their lease had expired and the message was ` +
            `restored for another worker (raise visibility_timeout if tasks are held longer): ${lost.slice(0, 5).join(', ')}`,
        );
      }
    }
  }

  async requeue(deliveries: readonly Delivery[], side: 'L' | 'R' = 'R'): Promise<void> {
    // RPUSH puts an item at the consuming end: push the last one first, so the first is consumed first.
    const taken = this.take(deliveries)
      .filter((h) => !h.lost)
      .reverse();
    for (let i = 0; i < taken.length; i += CHUNK) {
      const chunk = taken.slice(i, i + CHUNK);
      const args = chunk.flatMap((h) => [h.delivery.tag, h.score, h.confirmed, markRedelivered(h.raw)]);
      const keys = [this.keys.unacked, this.keys.unackedIndex, ...chunk.map((h) => h.listKey)];
      await this.retrying('Giving deliveries back', () =>
        giveBackScript.run(this.conn.client, keys, [side, ...args]),
      );
    }
  }

  async reject(delivery: Delivery, requeue: boolean, reason: string): Promise<void> {
    if (requeue) {
      await this.requeue([delivery], 'L');
      return;
    }
    const [held] = this.take([delivery]);
    if (held && !held.lost) await this.deadLetter(held, reason, true);
  }

  private async deadLetter(held: Held, reason: string, log: boolean): Promise<void> {
    const entry = JSON.stringify({
      reason,
      queue: held.delivery.queue,
      time: Date.now() / 1000,
      envelope: held.raw,
    });
    const { queue } = held.delivery;
    const keys = [
      this.keys.unacked,
      this.keys.unackedIndex,
      this.keys.deadLetterKey(queue),
      this.keys.deadLetterBytesKey(queue),
    ];
    const args = [
      this.options.deadLetterMax,
      held.delivery.tag,
      held.score,
      held.confirmed,
      entry,
      this.options.deadLetterMaxBytes,
    ];
    await this.retrying('Dead-lettering a delivery', () =>
      deadLetterScript.run(this.conn.client, keys, args),
    );
    if (log) this.logger.debug(`Dead-lettered ${held.delivery.tag} from ${held.delivery.queue}: ${reason}`);
  }

  /** Re-scores every held delivery now; forgets (and reports) those whose lease was lost meanwhile. */
  async renew(): Promise<void> {
    const all = [...this.held.values()].filter((h) => !h.lost);
    for (let i = 0; i < all.length; i += CHUNK) {
      const chunk = all.slice(i, i + CHUNK);
      const score = scoreNow();
      const args = this.triples(chunk);
      // Acks sent before this reply arrives must already accept the new score (the renewal may have run).
      for (const held of chunk) held.score = score;
      const keys = [this.keys.unacked, this.keys.unackedIndex];
      const lost = new Set((await renewScript.run(this.conn.client, keys, [score, ...args])) as string[]);
      for (const held of chunk) {
        if (held.score === score && !lost.has(held.delivery.tag)) held.confirmed = score;
      }
      const byOwner = new Map<LeaseOwner, Delivery[]>();
      for (const tag of lost) {
        const held = this.held.get(tag);
        if (!held) continue;
        held.lost = true;
        this.logger.warn(
          `Lost the lease of ${tag} (${held.delivery.queue}): it was restored for another worker while this one held it`,
        );
        byOwner.set(held.owner, [...(byOwner.get(held.owner) ?? []), held.delivery]);
      }
      // Told after the loop, so an owner that settles its requests at once sees every lease already marked lost.
      for (const [owner, deliveries] of byOwner) owner.lost?.(deliveries);
    }
  }

  startRenewing(): void {
    if (this.renewer) return;
    this.renewer = setInterval(() => {
      if (this.held.size === 0 || !this.conn.ready || this.renewing) return;
      this.renewing = true;
      this.renew()
        .catch((error: unknown) => {
          this.logger.warn(
            `Lease renewal failed: ${(error as Error).message}; retrying at the next interval`,
          );
        })
        .finally(() => (this.renewing = false));
    }, this.options.leaseRenewInterval * 1000);
    this.renewer.unref();
  }

  /** Gives every held delivery back (close): they are delivered next to whoever consumes. */
  async close(): Promise<void> {
    if (this.renewer) clearInterval(this.renewer);
    this.renewer = undefined;
    const all = [...this.held.values()].map((h) => h.delivery);
    if (all.length > 0 && this.conn.ready) {
      await this.requeue(all).catch((error: unknown) => {
        this.logger.warn(
          `Could not give back ${all.length} unacknowledged message(s) at close (${(error as Error).message}); ` +
            'they come back when their visibility timeout passes',
        );
      });
    }
    this.closed.abort();
    this.held.clear();
  }
}

function reasonOf(error: Error): string {
  return error instanceof InvalidTaskError ? error.reason : 'invalid-envelope';
}

function placeholder(queue: string, tag: string): Delivery {
  return {
    message: { headers: {}, properties: {}, contentType: '', contentEncoding: '', body: Buffer.alloc(0) },
    queue,
    tag,
    exchange: '',
    routingKey: queue,
    redelivered: false,
  };
}
