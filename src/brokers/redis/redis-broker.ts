/**
 * `redis://`, `rediss://` (TLS) and `sentinel://`: the broker most Celery users run, in kombu 5.2's exact layout
 * (reference §2.5), so Python Celery producers and workers share queues with Celeriac ones.
 *
 * Layout: JSON envelopes LPUSHed on `<queue>` and the priority buckets `<queue>\x06\x16{3,6,9}` (0 is the highest
 * priority), `_kombu.binding.<exchange>` sets written on declare, fanout by PUBLISH on `/<db>.<exchange>`,
 * everything behind `global_keyprefix`.
 *
 * Leases, better than kombu without breaking it:
 * - fetch (lua/fetch.ts) moves a batch from the lists into `unacked` (tag -> `[envelope, exchange, routing_key]`)
 *   and `unacked_index` (tag scored by time) in one script: a message is never in neither place;
 * - a live consumer renews the score of every delivery it holds (prefetched, waiting for an ETA, running), so
 *   neither a Celeriac nor a Python worker restores it (leases.ts): no duplicate runs of long ETA tasks;
 * - acks are batched (one script per batch) and fenced by the scores this broker wrote;
 * - abandoned deliveries are restored under kombu's `unacked_mutex`, the kombu way (restorer.ts);
 * - waiting for messages blocks without polling and without taking them out of Redis (consumer.ts);
 * - close, warm shutdown and `requeue` give held deliveries back at once (RPUSH: consumed next).
 *
 * Connections reconnect with backoff forever once up and resume consuming by themselves; while disconnected,
 * `publish` rejects with ConnectionError so the app's publish retry policy applies.
 */
import { ConnectionError } from '../../errors.js';
import type { Logger } from '../../lifecycle/logger.js';
import { asConnectionError, RedisConnection, type ConnectPolicy } from '../../transport/redis/client.js';
import { parseRedisUrl, withTls, type RedisTarget } from '../../transport/redis/url.js';
import { maskUrl } from '../../lifecycle/url.js';
import { encodeEnvelope } from '../../protocol/envelope.js';
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
  ExchangeSpec,
  ExchangeType,
  PublishItem,
  QueueSpec,
  RejectOptions,
  Route,
} from '../broker.js';
import { inequivalentExchange, routeToQueues } from '../exchange.js';
import { RedisConsumer, type ConsumerHost } from './consumer.js';
import { FANOUT_TAG, FanoutSubscriber } from './fanout.js';
import { RedisSubscriptions, type SubscriptionHost } from './subscriptions.js';
import { KeyLayout } from './keys.js';
import { Leases, type LeaseOwner } from './leases.js';
import { readBrokerOptions, type RedisBrokerOptions } from './options.js';
import { Restorer } from './restorer.js';

export const redisCapabilities: BrokerCapabilities = {
  fanout: true,
  topic: true,
  priority: 'buckets',
  delayedDelivery: false,
  consume: true,
  redeliversOnConsumerLoss: true,
  losesDeliveries: true,
  durable: true,
  shared: true,
  deadLetter: true,
  broadcast: 'pubsub',
  queueExpiry: false,
};

export class RedisBroker implements Broker, ConsumerHost, SubscriptionHost {
  readonly capabilities = redisCapabilities;
  readonly subscriptions: RedisSubscriptions = new RedisSubscriptions(this);
  readonly deferral = null;
  readonly url: string;
  readonly options: RedisBrokerOptions;
  readonly keys: KeyLayout;
  readonly logger: Logger;
  private readonly target: RedisTarget;
  private readonly main: RedisConnection;
  private readonly leases: Leases;
  private readonly restorer: Restorer;
  private subscriber: { conn: RedisConnection; fanout: FanoutSubscriber } | undefined;
  private readonly consumers = new Set<RedisConsumer>();
  private readonly fanoutQueues = new Map<RedisConsumer, string[]>();
  /** Exchange types learned from `declare` (kombu keeps them in the channel's state, not in Redis). */
  private readonly exchangeTypes = new Map<string, ExchangeType>();
  /** Exchanges declared with `declareExchange` (their type is fixed). */
  private readonly declaredExchanges = new Set<string>();
  private readonly closed = new AbortController();
  private readonly policy: ConnectPolicy;

  constructor(url: string, context: BrokerContext) {
    this.url = maskUrl(url);
    this.logger = context.logger;
    this.target = withTls(parseRedisUrl(url, 'broker'), context.tls);
    this.options = {
      ...readBrokerOptions(context.transportOptions, (m) => this.logger.warn(m)),
      ...(context.deadLetterMaxBytes === undefined ? {} : { deadLetterMaxBytes: context.deadLetterMaxBytes }),
    };
    this.keys = new KeyLayout(this.options, this.target.db);
    this.policy = {
      retry: context.connectionRetry,
      maxRetries: context.connectionMaxRetries,
      setting: 'broker',
    };
    // LPUSH (publish) is written at once: an awaited publish loop would otherwise wait a turn of the event loop
    // per message. Batches go through publishMany's explicit pipeline.
    this.main = this.connection('broker', {
      failFast: true,
      autoPipelining: true,
      directCommands: ['lpush'],
      policy: this.policy,
    });
    this.leases = new Leases(this.main, this.keys, this.options, this.logger);
    this.restorer = new Restorer(this.main, this.keys, this.options, this.logger, (ex, rk) =>
      this.queuesFor(ex, rk),
    );
  }

  /** A new connection of this broker's, named `role` in CLIENT LIST. */
  connection(role: string, options: ConstructorParameters<typeof RedisConnection>[4] = {}): RedisConnection {
    return new RedisConnection(this.target, role, this.options.connection, this.logger, options);
  }

  get fetchBatchSize(): number {
    return this.options.fetchBatchSize;
  }

  get waitTimeout(): number {
    return this.options.waitTimeout;
  }

  get socketTimeout(): number {
    return this.options.connection.socketTimeout;
  }

  async connect(): Promise<void> {
    if (this.closed.signal.aborted) throw new ConnectionError(`broker ${this.url} is closed`);
    await this.main.connect(this.policy);
  }

  whenReady(signal: AbortSignal): Promise<void> {
    return this.main.whenReady(signal);
  }

  private assertReady(what: string): void {
    if (this.closed.signal.aborted) throw new ConnectionError(`broker ${this.url} is closed; cannot ${what}`);
    if (!this.main.ready) {
      throw new ConnectionError(`Not connected to Redis at ${this.url} (reconnecting); cannot ${what} now`);
    }
  }

  /** Runs a command that must fail fast when disconnected, turning failures into ConnectionError. */
  async command<T>(what: string, fn: (client: RedisConnection['client']) => Promise<T>): Promise<T> {
    this.assertReady(what);
    try {
      return await fn(this.main.client);
    } catch (error) {
      if (error instanceof Error && error.name === 'ReplyError') throw error;
      throw asConnectionError(error, `Redis ${this.url}: cannot ${what}`);
    }
  }

  async declare(queues: readonly QueueSpec[]): Promise<void> {
    const members: [string, string][] = [];
    for (const spec of queues) {
      const exchange = spec.exchange ?? spec.name;
      if (exchange === '') continue;
      // An exchange declared with declareExchange keeps its type (a queue spec names it by name only).
      if (spec.exchangeType !== undefined || !this.exchangeTypes.has(exchange)) {
        this.exchangeTypes.set(exchange, spec.exchangeType ?? 'direct');
      }
      members.push([
        this.keys.bindingKey(exchange),
        this.keys.bindingMember(spec.routingKey ?? spec.name, spec.name),
      ]);
    }
    if (members.length === 0) return;
    await this.command('declare queues', () =>
      Promise.all(members.map(([key, member]) => this.main.client.sadd(key, member))),
    );
  }

  /**
   * kombu keeps exchange types in the channel, not in Redis (`exchange_declare`): a producer must declare a fanout
   * exchange to PUBLISH to it, as Celery's event dispatcher and pidbox do.
   */
  async declareExchange(exchange: ExchangeSpec): Promise<void> {
    const known = this.exchangeTypes.get(exchange.name);
    if (known !== undefined && known !== exchange.type && this.declaredExchanges.has(exchange.name)) {
      throw inequivalentExchange(exchange, known);
    }
    this.exchangeTypes.set(exchange.name, exchange.type);
    this.declaredExchanges.add(exchange.name);
  }

  /** The queues a message published to `exchange` with `routingKey` reaches (kombu's `_lookup`). */
  private async queuesFor(exchange: string, routingKey: string): Promise<string[]> {
    if (exchange === '') return routingKey ? [routingKey] : [];
    const members = await this.main.client.smembers(this.keys.bindingKey(exchange));
    const bindings = members.flatMap((m) => this.keys.parseBindingMember(m) ?? []);
    const type = this.exchangeTypes.get(exchange);
    if (type) return routeToQueues(type, bindings, routingKey);
    // A producer that did not declare the exchange: exact keys first, then topic patterns (kombu needs the
    // declaration to know the type; we would rather deliver than drop).
    const direct = routeToQueues('direct', bindings, routingKey);
    return direct.length > 0 ? direct : routeToQueues('topic', bindings, routingKey);
  }

  async publish(message: WireMessage, route: Route): Promise<void> {
    const envelope = encodeEnvelope(message, {
      exchange: route.exchange,
      routingKey: route.routingKey,
      deliveryTag: uuid(),
    });
    const client = this.main.client;
    if (this.exchangeTypes.get(route.exchange) === 'fanout') {
      await this.command('publish', () =>
        client.publish(this.keys.publishTopic(route.exchange, route.routingKey), envelope),
      );
      return;
    }
    const bucket = this.keys.bucket(message.properties.priority);
    if (route.exchange === '') {
      await this.command('publish', () =>
        client.lpush(this.keys.queueKey(route.routingKey, bucket), envelope),
      );
      return;
    }
    await this.command('publish', async () => {
      const queues = await this.queuesFor(route.exchange, route.routingKey);
      if (queues.length === 0) {
        // On an exchange declared for messaging (a control reply to a client that has gone) this is expected and
        // silent, as in kombu; a task routed nowhere is a routing mistake worth saying.
        const message =
          `Message to exchange "${route.exchange}" with routing key "${route.routingKey}" matched no queue and was ` +
          'dropped (as AMQP does): declare a queue bound to it';
        if (this.declaredExchanges.has(route.exchange)) this.logger.debug(message);
        else this.logger.warn(message);
      }
      await Promise.all(queues.map((q) => client.lpush(this.keys.queueKey(q, bucket), envelope)));
    });
  }

  /**
   * One pipeline for the whole batch: consecutive messages for the same list go in one LPUSH with many values
   * (kept in order: the first pushed is consumed first), fanout ones are PUBLISHed in the same pipeline.
   */
  async publishMany(items: readonly PublishItem[]): Promise<void> {
    if (items.length === 0) return;
    const client = this.main.client;
    await this.command('publish', async () => {
      const routes = new Map<string, Promise<string[]>>();
      const targets = await Promise.all(
        items.map(({ route }) => {
          if (route.exchange === '' || this.exchangeTypes.get(route.exchange) === 'fanout')
            return Promise.resolve(null);
          const key = `${route.exchange}\u0000${route.routingKey}`;
          let queues = routes.get(key);
          if (!queues) {
            queues = this.queuesFor(route.exchange, route.routingKey);
            routes.set(key, queues);
          }
          return queues;
        }),
      );
      const pipeline = client.pipeline();
      let pending: { key: string; values: string[] } | undefined;
      const flush = (): void => {
        if (pending) pipeline.lpush(pending.key, ...pending.values);
        pending = undefined;
      };
      const push = (key: string, envelope: string): void => {
        if (pending?.key !== key) {
          flush();
          pending = { key, values: [] };
        }
        pending.values.push(envelope);
      };
      let dropped = 0;
      items.forEach(({ message, route }, i) => {
        const envelope = encodeEnvelope(message, {
          exchange: route.exchange,
          routingKey: route.routingKey,
          deliveryTag: uuid(),
        });
        const bucket = this.keys.bucket(message.properties.priority);
        if (route.exchange === '') {
          push(this.keys.queueKey(route.routingKey, bucket), envelope);
        } else if (this.exchangeTypes.get(route.exchange) === 'fanout') {
          flush();
          pipeline.publish(this.keys.publishTopic(route.exchange, route.routingKey), envelope);
        } else {
          const queues = targets[i]!;
          if (queues.length === 0) dropped++;
          for (const queue of queues) push(this.keys.queueKey(queue, bucket), envelope);
        }
      });
      flush();
      if (dropped > 0) {
        this.logger.warn(
          `${dropped} message(s) matched no queue and were dropped (as AMQP does): declare a queue bound to their exchange`,
        );
      }
      const replies = (await pipeline.exec()) ?? [];
      const failed = replies.find(([error]) => error !== null);
      if (failed) throw failed[0]!;
    });
  }

  async consume(
    queues: readonly QueueSpec[],
    handler: DeliveryHandler,
    options: ConsumeOptions,
  ): Promise<Consumer> {
    this.assertReady('consume');
    await this.declare(queues);
    const lists = queues.filter((q) => this.exchangeTypes.get(q.exchange ?? q.name) !== 'fanout');
    const fanouts = queues.filter((q) => this.exchangeTypes.get(q.exchange ?? q.name) === 'fanout');
    const names = lists.map((q) => q.name);
    if (this.options.queueOrderStrategy === 'sorted') names.sort();
    const consumer = new RedisConsumer(this, names, handler, options.prefetch, options.onLost);
    this.consumers.add(consumer);
    if (fanouts.length > 0) {
      const fanout = this.fanout();
      for (const q of fanouts) await fanout.add(q.name, q.exchange ?? q.name, q.routingKey ?? '', handler);
      this.fanoutQueues.set(
        consumer,
        fanouts.map((q) => q.name),
      );
    }
    if (names.length > 0) {
      this.leases.startRenewing();
      this.restorer.start();
      consumer.start();
    }
    return consumer;
  }

  /** The pub/sub connection shared by fanout queues and subscriptions, opened on first use. */
  fanout(): FanoutSubscriber {
    if (!this.subscriber) {
      const conn = this.connection('subscriber');
      // Connected explicitly (not lazily by its first command) so that its health checks run.
      conn
        .connect({ retry: true, maxRetries: Number.POSITIVE_INFINITY, setting: 'broker' })
        .catch((error: unknown) => {
          this.logger.warn(`Fanout subscriber connection failed: ${(error as Error).message}`);
        });
      this.subscriber = { conn, fanout: new FanoutSubscriber(conn, this.keys, this.logger) };
    }
    return this.subscriber.fanout;
  }

  // ConsumerHost

  fetch(owner: LeaseOwner, cycle: string[], limit: number): Promise<Delivery[]> {
    return this.leases.fetch(owner, cycle, limit);
  }

  listKeys(queues: readonly string[]): string[] {
    return this.keys.prioritySteps.flatMap((step) => queues.map((q) => this.keys.queueKey(q, step)));
  }

  waiterConnection(key: string): RedisConnection {
    return this.connection(`wait:${this.keys.queueOfKey(key)}`, { failFast: true });
  }

  forget(consumer: RedisConsumer): void {
    this.consumers.delete(consumer);
    const fanouts = this.fanoutQueues.get(consumer);
    this.fanoutQueues.delete(consumer);
    for (const queue of fanouts ?? []) void this.subscriber?.fanout.remove(queue);
  }

  // Settling

  private lists(deliveries: readonly Delivery[]): Delivery[] {
    return deliveries.filter((d) => !d.tag.startsWith(FANOUT_TAG));
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    const lists = this.lists(deliveries);
    if (lists.length > 0) await this.leases.ack(lists);
  }

  async reject(delivery: Delivery, options: RejectOptions): Promise<void> {
    if (delivery.tag.startsWith(FANOUT_TAG)) {
      if (!options.requeue) this.logger.debug(`Rejected a fanout message (${options.reason ?? 'rejected'})`);
      return;
    }
    await this.leases.reject(delivery, options.requeue, options.reason ?? 'rejected');
  }

  async requeue(deliveries: readonly Delivery[]): Promise<void> {
    const lists = this.lists(deliveries);
    if (lists.length > 0) await this.leases.requeue(lists);
  }

  async purge(queue: string): Promise<number> {
    const keys = this.keys.queueKeys(queue);
    return this.command('purge', async () => {
      const multi = this.main.client.multi();
      for (const key of keys) multi.llen(key).del(key);
      const replies = (await multi.exec()) ?? [];
      return replies.reduce((sum, [, value], i) => (i % 2 === 0 ? sum + Number(value) : sum), 0);
    });
  }

  async size(queue: string): Promise<number> {
    const keys = this.keys.queueKeys(queue);
    return this.command('read the queue size', async () => {
      const sizes = await Promise.all(keys.map((key) => this.main.client.llen(key)));
      return sizes.reduce((a, b) => a + b, 0);
    });
  }

  /** Rejected messages of a queue, newest first, with their reasons (Celeriac's dead letters). */
  async deadLetters(
    queue: string,
  ): Promise<{ reason: string; queue: string; time: number; envelope: string }[]> {
    const entries = await this.main.client.lrange(this.keys.deadLetterKey(queue), 0, -1);
    return entries.map(
      (e) => JSON.parse(e) as { reason: string; queue: string; time: number; envelope: string },
    );
  }

  /** Restores abandoned deliveries now (normally done on a timer); resolves with how many. */
  restoreStale(): Promise<number> {
    return this.restorer.sweep();
  }

  /** Renews the leases of held deliveries now (normally done on a timer). */
  renewLeases(): Promise<void> {
    return this.leases.renew();
  }

  async close(): Promise<void> {
    if (this.closed.signal.aborted) return;
    await this.subscriptions.close();
    await this.restorer.stop();
    await Promise.all([...this.consumers].map((c) => c.cancel()));
    await this.leases.close();
    this.closed.abort();
    await Promise.all([this.main.close(), this.subscriber?.conn.close()]);
  }
}

export function createRedisBroker(url: string, context: BrokerContext): Broker {
  return new RedisBroker(url, context);
}
