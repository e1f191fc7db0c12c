/**
 * `amqp://` (also `amqps://`, `pyamqp://`): RabbitMQ through amqplib, wire-compatible with Celery 5.2 on py-amqp.
 * Declarations as kombu makes them, protocol fields in `application_headers`, publisher confirms (pipelined),
 * manual acks batched into `multiple` acks, prefetch through basic.qos, reconnection with re-declaration, and
 * far-future ETA messages handed back to RabbitMQ through delay queues (delay.ts) instead of being held past
 * `consumer_timeout`. See docs/brokers/rabbitmq.md.
 */
import { ConnectionError } from '../../errors.js';
import type { Logger } from '../../lifecycle/logger.js';
import {
  publishEach,
  type Broker,
  type BrokerCapabilities,
  type BrokerContext,
  type ConsumeOptions,
  type Consumer,
  type Deferral,
  type Delivery,
  type DeliveryHandler,
  type ExchangeSpec,
  type PublishItem,
  type PublishOptions,
  type QueueSpec,
  type RejectOptions,
  type Route,
  type SubscriptionHandler,
  type SubscriptionSpec,
} from '../broker.js';
import { subscriptionQueue } from '../exchange.js';
import type { WireMessage } from '../../protocol/message.js';
import { decoderInstalled, type Channel } from '../../transport/amqp/amqplib.js';
import { asConnectionError, AmqpClient } from '../../transport/amqp/client.js';
import { AmqpConsumer, AmqpDelivery, type ConsumerDeps, type Link } from './consumer.js';
import { declareExchange, declareQueue } from './declare.js';
import { bindDelayedDelivery, declareDelayTopology, delayRoute, withoutDeathHeaders } from './delay.js';
import { toPublishOptions } from './properties.js';
import { ConfirmPublisher } from '../../transport/amqp/publisher.js';
import { AmqpSubscriptions } from './subscriptions.js';
import { parseAmqpSettings, type AmqpSettings } from '../../transport/amqp/url.js';

export const amqpCapabilities: BrokerCapabilities = {
  fanout: true,
  topic: true,
  priority: 'native',
  delayedDelivery: false,
  consume: true,
  redeliversOnConsumerLoss: true,
  losesDeliveries: true,
  durable: true,
  shared: true,
  // A reject without requeue goes where the queue's own `x-dead-letter-exchange` says (QueueSpec.arguments),
  // as it does for Python workers; the reason is in the worker's log, not in the message.
  deadLetter: false,
  broadcast: 'queue',
  queueExpiry: true,
};

export class AmqpBroker implements Broker {
  readonly capabilities = amqpCapabilities;
  readonly url: string;
  readonly subscriptions: AmqpSubscriptions;
  readonly deferral: Deferral;
  private readonly client: AmqpClient;
  private readonly publisher: ConfirmPublisher;
  private readonly settings: AmqpSettings;
  private readonly logger: Logger;
  private readonly consumers = new Set<AmqpConsumer>();
  /**
   * Queues declared through `declare()` (by queue, exchange and key: a queue may have several bindings), declared
   * again after a reconnect (transient ones are gone).
   */
  private readonly declaredSpecs = new Map<string, QueueSpec>();
  /** Exchanges declared with `declareExchange`, declared again after a reconnect. */
  private readonly exchangeSpecs = new Map<string, ExchangeSpec>();
  /** Exchanges declared on the current connection. */
  private declaredExchanges = new Set<string>();
  private admin: Promise<Channel> | undefined;
  private delayTopology: Promise<void> | undefined;
  private readonly delayBindings = new Map<string, Promise<void>>();

  constructor(url: string, context: BrokerContext) {
    this.settings = parseAmqpSettings(
      url,
      context.transportOptions,
      context.connectionTimeoutMs,
      context.tls,
    );
    this.url = this.settings.endpoints.map((e) => e.display).join(';');
    this.logger = context.logger;
    this.deferral = { afterMs: this.settings.deferEtaAfterMs, defer: (d, eta) => this.defer(d, eta) };
    this.client = new AmqpClient({
      settings: this.settings,
      logger: context.logger,
      role: 'broker',
      retryOnStartup: context.connectionRetry,
      maxStartupRetries: context.connectionMaxRetries,
    });
    this.publisher = new ConfirmPublisher(this.client, context.logger, this.settings.confirmTimeoutMs);
    this.client.listen({ connected: (generation) => this.onConnected(generation) });
    this.subscriptions = new AmqpSubscriptions((spec, handler) => this.openSubscription(spec, handler));
  }

  async connect(): Promise<void> {
    if (!decoderInstalled) {
      this.logger.warn(
        'amqplib was loaded before the Celeriac AMQP driver, so headers with 64-bit integers from Python ' +
          'producers will close the connection; import celeriac before amqplib',
      );
    }
    await this.client.connect();
  }

  private onConnected(generation: number): void {
    this.admin = undefined;
    this.delayTopology = undefined;
    this.delayBindings.clear();
    this.declaredExchanges = new Set();
    if (generation === 1) return;
    this.redeclare().catch((error: unknown) => {
      this.logger.error(
        { err: error },
        `Could not declare queues again after reconnecting: ${String(error)}`,
      );
    });
  }

  private async redeclare(): Promise<void> {
    if (this.exchangeSpecs.size === 0 && this.declaredSpecs.size === 0) return;
    const channel = await this.adminChannel();
    for (const spec of this.exchangeSpecs.values()) await this.declareExchangeOn(channel, spec);
    await this.declareOn(channel, [...this.declaredSpecs.values()]);
  }

  /** A channel for declarations and queue inspection, re-opened after RabbitMQ closes it on an error. */
  private adminChannel(): Promise<Channel> {
    if (this.admin) return this.admin;
    const admin = this.client.channel().then((channel) => {
      channel.on('error', () => undefined); // the failed operation reports it
      channel.on('close', () => {
        if (this.admin === admin) this.admin = undefined;
      });
      return channel;
    });
    admin.catch(() => {
      if (this.admin === admin) this.admin = undefined;
    });
    this.admin = admin;
    return admin;
  }

  private async declareOn(channel: Channel, queues: readonly QueueSpec[]): Promise<void> {
    const exchanges = { declared: this.declaredExchanges, specs: this.exchangeSpecs };
    for (const spec of queues) await declareQueue(channel, spec, exchanges);
  }

  async declare(queues: readonly QueueSpec[]): Promise<void> {
    for (const spec of queues) {
      this.declaredSpecs.set(`${spec.name}\u0000${spec.exchange ?? ''}\u0000${spec.routingKey ?? ''}`, spec);
    }
    await this.declareOn(await this.adminChannel(), queues);
  }

  async declareExchange(exchange: ExchangeSpec): Promise<void> {
    this.exchangeSpecs.set(exchange.name, exchange);
    await this.declareExchangeOn(await this.adminChannel(), exchange);
  }

  private async declareExchangeOn(channel: Channel, exchange: ExchangeSpec): Promise<void> {
    await declareExchange(channel, exchange);
    this.declaredExchanges.add(exchange.name);
  }

  async publish(message: WireMessage, route: Route, _options?: PublishOptions): Promise<void> {
    await this.publisher.publish(route.exchange, route.routingKey, message.body, toPublishOptions(message));
  }

  /** Confirms are pipelined (publisher.ts): publishing each at once is already one stream of frames. */
  publishMany(items: readonly PublishItem[]): Promise<void> {
    return publishEach(this, items);
  }

  /** A subscription's consumer: its queue declared on its own channel (again after reconnects), no acks. */
  private async openSubscription(
    spec: SubscriptionSpec,
    handler: SubscriptionHandler,
  ): Promise<AmqpConsumer> {
    await this.declareExchange(spec.exchange);
    const consumer = new AmqpConsumer(
      this.consumerDeps(),
      [subscriptionQueue(spec)],
      (delivery) => handler(delivery),
      { prefetch: 0 },
      true,
    );
    await consumer.open();
    this.consumers.add(consumer);
    return consumer;
  }

  private consumerDeps(): ConsumerDeps {
    return {
      client: this.client,
      logger: this.logger,
      declare: (channel, specs) => this.declareOn(channel, specs),
      globalQos: () => this.globalQos(),
    };
  }

  async consume(
    queues: readonly QueueSpec[],
    handler: DeliveryHandler,
    options: ConsumeOptions,
  ): Promise<Consumer> {
    const consumer = new AmqpConsumer(this.consumerDeps(), queues, handler, options);
    await consumer.open();
    this.consumers.add(consumer);
    return consumer;
  }

  /** kombu sets basic.qos `global` on RabbitMQ >= 3.3, where it means "per channel" (`pyamqp.py:222`). */
  private globalQos(): boolean {
    const [major = 0, minor = 0] = this.client.serverVersion;
    return this.client.serverVersion.length > 0 && (major > 3 || (major === 3 && minor >= 3));
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const first = asAmqp(deliveries[0]!);
    let dropped = 0;
    if (deliveries.every((d) => (d as AmqpDelivery).link === first.link)) {
      dropped = first.link.ack(deliveries as readonly AmqpDelivery[]);
    } else {
      const byLink = new Map<Link, AmqpDelivery[]>();
      for (const delivery of deliveries) {
        const d = asAmqp(delivery);
        const list = byLink.get(d.link);
        if (list) list.push(d);
        else byLink.set(d.link, [d]);
      }
      for (const [link, list] of byLink) dropped += link.ack(list);
    }
    if (dropped > 0) {
      this.logger.warn(
        `${dropped} acknowledgement(s) not sent: the channel their deliveries came on is closed, so RabbitMQ ` +
          'delivers those messages again (at least once)',
      );
    }
  }

  async reject(delivery: Delivery, options: RejectOptions): Promise<void> {
    const d = asAmqp(delivery);
    if (!d.link.reject(d, options.requeue) && !d.link.alive) {
      this.logger.warn(`Could not reject a delivery from ${d.queue}: its channel is closed; it comes back`);
    }
  }

  async requeue(deliveries: readonly Delivery[]): Promise<void> {
    for (const delivery of deliveries) {
      const d = asAmqp(delivery);
      d.link.reject(d, true);
    }
  }

  /**
   * Sends the delivery's message on through the delay levels so that it is back in its queue at `eta`, then
   * acknowledges it: same task id, body and headers, so any worker (Python ones included) runs it then.
   */
  private async defer(delivery: Delivery, eta: number): Promise<void> {
    const d = asAmqp(delivery);
    if (!d.link.alive) {
      throw new ConnectionError(`the channel of this delivery is closed; RabbitMQ delivers it again`);
    }
    const route = delayRoute(d.queue, eta - Date.now());
    await this.ensureDelayRoute(d.queue);
    const options = toPublishOptions(d.message, withoutDeathHeaders(d.message.headers));
    // The `expires` header still applies on arrival (the task is recorded REVOKED); a per-message TTL here would
    // instead cut the trip through the levels short.
    delete options.expiration;
    await this.publisher.publish(route.exchange, route.routingKey, d.message.body, options);
    if (d.link.ack([d]) > 0) {
      this.logger.warn(
        `Deferred a message from ${d.queue} but its channel closed before the ack: it may run twice`,
      );
    }
  }

  private ensureDelayRoute(queue: string): Promise<void> {
    const topology = (this.delayTopology ??= this.adminChannel().then(declareDelayTopology));
    topology.catch(() => (this.delayTopology = undefined));
    let bound = this.delayBindings.get(queue);
    if (!bound) {
      bound = topology.then(async () => bindDelayedDelivery(await this.adminChannel(), queue));
      bound.catch(() => this.delayBindings.delete(queue));
      this.delayBindings.set(queue, bound);
    }
    return bound;
  }

  async purge(queue: string): Promise<number> {
    return this.inspect(queue, (channel) => channel.purgeQueue(queue));
  }

  async size(queue: string): Promise<number> {
    return this.inspect(queue, (channel) => channel.checkQueue(queue));
  }

  /** Runs a queue RPC; a queue that does not exist counts as empty (RabbitMQ answers NOT_FOUND). */
  private async inspect(
    queue: string,
    rpc: (channel: Channel) => Promise<{ messageCount: number }>,
  ): Promise<number> {
    try {
      return (await rpc(await this.adminChannel())).messageCount;
    } catch (error) {
      if ((error as { code?: unknown }).code === 404) return 0;
      throw asConnectionError(error, `queue ${queue} on ${this.url}`);
    }
  }

  async close(): Promise<void> {
    await this.subscriptions.close();
    const consumers = [...this.consumers];
    this.consumers.clear();
    await Promise.all(consumers.map((c) => c.close()));
    await this.publisher.close();
    await this.client.close();
  }
}

function asAmqp(delivery: Delivery): AmqpDelivery {
  if (delivery instanceof AmqpDelivery) return delivery;
  throw new TypeError('the AMQP broker can only settle deliveries it handed out');
}

export function createAmqpBroker(url: string, context: BrokerContext): Broker {
  return new AmqpBroker(url, context);
}
