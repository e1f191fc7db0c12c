/**
 * Subscriptions on Redis, exactly as kombu's Redis transport makes them for Celery's event receiver, pidbox mailbox
 * and reply queue (observed with `redis-cli monitor` against Celery 5.2.6):
 *
 * - every subscription first binds its queue: `SADD _kombu.binding.<exchange> <key>\x06\x16\x06\x16<queue>`;
 * - on a fanout exchange it then PSUBSCRIBEs the exchange's channel (`/<db>.celeryev/*` for `#`,
 *   `/<db>.celery.pidbox` for `''`; fanout.ts), so messages reach it only while it listens and nothing is stored;
 * - on a direct or topic exchange (the reply queue `<oid>.reply.celery.pidbox` on `reply.celery.pidbox`) the
 *   producer LPUSHes to the queue's lists by the binding, and the subscriber BRPOPs them without kombu's `unacked`
 *   bookkeeping (`no_ack`);
 * - cancel removes the binding and DELetes the lists (`SREM`, then `DEL` of every priority list), as kombu does for
 *   an auto-delete queue on channel close and for a reply queue after the replies are collected.
 *
 * kombu ignores the queue TTL and expiry on Redis (`x-message-ttl` and `x-expires` are AMQP arguments), and so does
 * this driver (`queueExpiry: false`): a subscriber killed before it cancels leaves its binding behind, as a Python
 * one does; fanout publishing never reads those bindings, so nothing accumulates.
 */
import type { Logger } from '../../lifecycle/logger.js';
import type { RedisConnection } from '../../transport/redis/client.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import type {
  ExchangeSpec,
  Subscription,
  SubscriptionHandler,
  Subscriptions,
  SubscriptionSpec,
} from '../broker.js';
import type { FanoutSubscriber } from './fanout.js';
import type { KeyLayout } from './keys.js';

/** What subscriptions need from the Redis broker. */
export interface SubscriptionHost {
  readonly keys: KeyLayout;
  readonly logger: Logger;
  /** Seconds a blocking wait lasts. */
  readonly waitTimeout: number;
  readonly socketTimeout: number;
  declareExchange(exchange: ExchangeSpec): Promise<void>;
  /** Runs a command on the main connection, failing fast (ConnectionError) while disconnected. */
  command<T>(what: string, fn: (client: RedisConnection['client']) => Promise<T>): Promise<T>;
  /** The shared pub/sub connection for fanout queues. */
  fanout(): FanoutSubscriber;
  /** A new connection of its own, for a blocking reader. */
  connection(role: string): RedisConnection;
}

export class RedisSubscriptions implements Subscriptions {
  private readonly active = new Set<Subscription>();

  constructor(private readonly host: SubscriptionHost) {}

  async subscribe(spec: SubscriptionSpec, handler: SubscriptionHandler): Promise<Subscription> {
    const { keys } = this.host;
    await this.host.declareExchange(spec.exchange);
    const bindingKey = keys.bindingKey(spec.exchange.name);
    const member = keys.bindingMember(spec.routingKey, spec.queue);
    await this.host.command('subscribe', (client) => client.sadd(bindingKey, member));
    const stop =
      spec.exchange.type === 'fanout'
        ? await this.listen(spec, handler)
        : await this.read(spec.queue, handler);
    const subscription: Subscription = {
      queue: spec.queue,
      cancel: async () => {
        if (!this.active.delete(subscription)) return;
        await stop();
        await this.host
          .command('delete a subscription queue', async (client) => {
            await client.srem(bindingKey, member);
            await client.del(...keys.queueKeys(spec.queue));
          })
          .catch((error: unknown) => {
            this.host.logger.warn(
              `Could not delete subscription queue ${spec.queue}: ${(error as Error).message}`,
            );
          });
      },
    };
    this.active.add(subscription);
    return subscription;
  }

  private async listen(spec: SubscriptionSpec, handler: SubscriptionHandler): Promise<() => Promise<void>> {
    const fanout = this.host.fanout();
    await fanout.add(spec.queue, spec.exchange.name, spec.routingKey, (delivery) => handler(delivery));
    return () => fanout.remove(spec.queue);
  }

  private async read(queue: string, handler: SubscriptionHandler): Promise<() => Promise<void>> {
    const reader = new ListReader(this.host, queue, handler);
    await reader.start();
    return () => reader.stop();
  }

  /** Cancels every subscription (the broker is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.active].map((s) => s.cancel()));
  }
}

/** BRPOPs a queue's lists (every priority bucket, highest first) on a connection of its own, without acks. */
class ListReader {
  private readonly abort = new AbortController();
  private readonly conn: RedisConnection;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: SubscriptionHost,
    private readonly queue: string,
    private readonly handler: SubscriptionHandler,
  ) {
    this.conn = host.connection(`subscription:${queue}`);
  }

  /** Connects (connections are lazy: whenReady needs one under way) and starts reading. */
  async start(): Promise<void> {
    await this.conn
      .connect({ retry: true, maxRetries: Number.POSITIVE_INFINITY, setting: 'broker' })
      .catch((error: unknown) => {
        this.host.logger.warn(`Subscription ${this.queue}: cannot connect: ${(error as Error).message}`);
      });
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const keys = this.host.keys.queueKeys(this.queue);
    const timeout = this.host.waitTimeout;
    while (!signal.aborted) {
      let reply: [string, string] | null;
      try {
        await this.conn.whenReady(signal);
        // A blocked connection cannot be PINGed: a reply overdue by socketTimeout means a silent partition.
        const cancel = this.conn.deadline((timeout + this.host.socketTimeout) * 1000, 'a blocking wait');
        reply = await this.conn.client.brpop(...keys, timeout).finally(cancel);
      } catch {
        if (signal.aborted) break;
        // The connection dropped (whenReady then waits for it) or Redis refused the command: pause before trying again.
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      if (reply) this.deliver(reply[1]);
    }
  }

  private deliver(raw: string): void {
    let decoded;
    try {
      decoded = decodeEnvelope(raw);
    } catch (error) {
      this.host.logger.warn(`Ignored an undecodable message on ${this.queue}: ${(error as Error).message}`);
      return;
    }
    try {
      this.handler({
        message: decoded.message,
        queue: this.queue,
        exchange: decoded.exchange,
        routingKey: decoded.routingKey,
      });
    } catch (error) {
      this.host.logger.error({ err: error }, `Subscription handler threw: ${(error as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.conn.close(false);
    await this.loop;
  }
}
