/**
 * Fanout exchanges over pub/sub, as kombu does (`_put_fanout`, `_subscribe`, `_receive_one` in
 * `kombu/transport/redis.py`): a message is PUBLISHed on `/<db>.<exchange>[/<routing key>]` and every consumer of
 * a fanout-bound queue PSUBSCRIBEs to its topic. Pub/sub keeps nothing: a fanout delivery is at most once (as
 * Celery's remote-control and event consumers, which use no_ack), and settling it is a no-op.
 */
import type { Logger } from '../../lifecycle/logger.js';
import type { RedisConnection } from '../../transport/redis/client.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import { uuid } from '../../protocol/ids.js';
import type { Delivery, DeliveryHandler } from '../broker.js';
import type { KeyLayout } from './keys.js';

interface Subscription {
  readonly queue: string;
  readonly handler: DeliveryHandler;
}

export const FANOUT_TAG = 'fanout:';

export class FanoutSubscriber {
  /** Pattern -> queues consuming it. */
  private readonly byPattern = new Map<string, Subscription[]>();
  private started = false;

  constructor(
    private readonly conn: RedisConnection,
    private readonly keys: KeyLayout,
    private readonly logger: Logger,
  ) {}

  async add(queue: string, exchange: string, bindingKey: string, handler: DeliveryHandler): Promise<void> {
    this.start();
    const fresh: string[] = [];
    for (const pattern of this.keys.subscribePatterns(exchange, bindingKey)) {
      const list = this.byPattern.get(pattern) ?? [];
      if (list.length === 0) fresh.push(pattern);
      list.push({ queue, handler });
      this.byPattern.set(pattern, list);
    }
    if (fresh.length > 0) await this.conn.client.psubscribe(...fresh);
  }

  async remove(queue: string): Promise<void> {
    const gone: string[] = [];
    for (const [pattern, list] of this.byPattern) {
      const left = list.filter((s) => s.queue !== queue);
      if (left.length === 0) {
        this.byPattern.delete(pattern);
        gone.push(pattern);
      } else {
        this.byPattern.set(pattern, left);
      }
    }
    if (gone.length > 0 && this.conn.ready)
      await this.conn.client.punsubscribe(...gone).catch(() => undefined);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.conn.client.on('pmessage', (pattern: string, channel: string, message: string) =>
      this.receive(pattern, channel, message),
    );
    // Subscriptions are not kept across a reconnect by the connection itself (autoResubscribe is off).
    this.conn.client.on('ready', () => {
      const patterns = [...this.byPattern.keys()];
      if (patterns.length > 0) {
        this.conn.client.psubscribe(...patterns).catch((error: unknown) => {
          this.logger.warn(`Could not re-subscribe to fanout exchanges: ${(error as Error).message}`);
        });
      }
    });
  }

  private receive(pattern: string, channel: string, message: string): void {
    const subscribers = this.byPattern.get(pattern);
    if (!subscribers) return;
    let decoded;
    try {
      decoded = decodeEnvelope(message);
    } catch (error) {
      this.logger.warn(`Ignored an undecodable message on ${channel}: ${(error as Error).message}`);
      return;
    }
    const exchange = this.keys.exchangeOfChannel(channel);
    for (const { queue, handler } of subscribers) {
      const delivery: Delivery = {
        message: decoded.message,
        queue,
        tag: `${FANOUT_TAG}${uuid()}`,
        exchange: decoded.exchange || exchange,
        routingKey: decoded.routingKey,
        redelivered: false,
      };
      try {
        handler(delivery);
      } catch (error) {
        this.logger.error({ err: error }, `Delivery handler threw: ${(error as Error).message}`);
      }
    }
  }
}
