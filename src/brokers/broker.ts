/**
 * The broker seam. Owned by the core and shaped by what the worker needs; every driver (memory, sqlite, redis,
 * amqp) implements it and passes `conformance/`. No driver type crosses it.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '../lifecycle/logger.js';
import type { WireMessage } from '../protocol/message.js';

export type ExchangeType = 'direct' | 'topic' | 'fanout';

/** What a driver can do; the core branches on these and the conformance suite verifies them. */
export interface BrokerCapabilities {
  /** Fanout exchanges (broadcast to every bound queue). */
  readonly fanout: boolean;
  /** Topic exchanges (`*` one word, `#` zero or more). */
  readonly topic: boolean;
  /** How priority is honoured: not at all, kombu's Redis buckets (0 is highest), or by the server (highest first). */
  readonly priority: 'none' | 'buckets' | 'native';
  /** `publish(..., { notBefore })` keeps the message invisible until then. */
  readonly delayedDelivery: boolean;
  /** `consume`, `ack`, `reject` and `requeue` work; false only for a pool child's stand-in, which only publishes. */
  readonly consume: boolean;
  /** Unsettled deliveries come back to the queue when their consumer dies (lease expiry or connection loss). */
  readonly redeliversOnConsumerLoss: boolean;
  /**
   * Deliveries handed out can be lost while held (their channel closed, their lease taken over) and are then
   * reported through `ConsumeOptions.onLost`. Drivers without it never lose a delivery they handed out.
   */
  readonly losesDeliveries: boolean;
  /** Messages survive a restart of the broker (or of the process, for embedded brokers). */
  readonly durable: boolean;
  /** Producers and consumers may live in different processes. */
  readonly shared: boolean;
  /** Rejected messages (`reject` without requeue) are kept in a dead-letter store with their reason. */
  readonly deadLetter: boolean;
  /**
   * How a fanout exchange reaches its queues. `'pubsub'`: published to the subscribers listening at that moment
   * and stored nowhere (Redis, kombu's PUBLISH/PSUBSCRIBE; topic exchanges there are lists that outlive their
   * readers, which is why Celery sends events to a fanout exchange on Redis). `'queue'`: copied into every bound
   * queue (RabbitMQ, SQLite, memory).
   */
  readonly broadcast: 'pubsub' | 'queue';
  /**
   * `QueueSpec.messageTtlMs` and `expiresMs` are enforced (RabbitMQ's `x-message-ttl` and `x-expires`). kombu's
   * Redis transport ignores both, and so does the Redis driver: its auto-deleting queues go when they are cancelled.
   */
  readonly queueExpiry: boolean;
}

/** An exchange as kombu declares it (`kombu.Exchange`). */
export interface ExchangeSpec {
  readonly name: string;
  readonly type: ExchangeType;
  /** Kept across broker restarts; kombu's default (true). Celery's pidbox exchanges are not durable. */
  readonly durable?: boolean;
  readonly autoDelete?: boolean;
}

/** A queue and how it is bound, as Celery declares it (`kombu.Queue`). */
export interface QueueSpec {
  readonly name: string;
  /** Exchange the queue is bound to; defaults to the queue name. */
  readonly exchange?: string;
  readonly exchangeType?: ExchangeType;
  /** Binding key; defaults to the queue name. */
  readonly routingKey?: string;
  readonly durable?: boolean;
  readonly autoDelete?: boolean;
  /** Sets `x-max-priority` where the broker supports native priorities. */
  readonly maxPriority?: number;
  /** Extra queue arguments (`x-queue-type`, `x-dead-letter-exchange`, ...), passed through where the broker has them. */
  readonly arguments?: Readonly<Record<string, unknown>>;
  /** Messages waiting longer than this are dropped (kombu's `message_ttl`, `x-message-ttl`), where `queueExpiry`. */
  readonly messageTtlMs?: number;
  /** The queue is deleted once unused (no consumer) this long (kombu's `expires`, `x-expires`), where `queueExpiry`. */
  readonly expiresMs?: number;
}

/**
 * Where a message goes. Exchange `''` is the default exchange: the routing key is the queue name (Celery publishes
 * direct-routed tasks this way, `celery/app/amqp.py:490`).
 */
export interface Route {
  readonly exchange: string;
  readonly routingKey: string;
}

/** One message of a `publishMany` batch. */
export interface PublishItem {
  readonly message: WireMessage;
  readonly route: Route;
}

export interface PublishOptions {
  /** Milliseconds since the epoch before which the message must not be delivered (when `delayedDelivery`). */
  readonly notBefore?: number;
}

/** One message handed to a consumer. Settle it exactly once: `ack`, `reject` or `requeue`. */
export interface Delivery {
  readonly message: WireMessage;
  /** The queue it was consumed from. */
  readonly queue: string;
  /** Unique per delivery within the driver. */
  readonly tag: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
}

/**
 * Receives deliveries. Must not throw; a handler that does is a bug, and the driver logs it and keeps going.
 * The delivery counts against the consumer's prefetch until it is settled.
 */
export type DeliveryHandler = (delivery: Delivery) => void;

export interface ConsumeOptions {
  /** Most deliveries held unsettled at once; 0 means unlimited. */
  readonly prefetch: number;
  /**
   * Called when the driver lost deliveries it handed out and has not seen settled (the connection or channel
   * they came on died): the broker delivers them again, so they must not be started, and settling them does
   * nothing. Drivers whose deliveries cannot be lost this way never call it.
   */
  readonly onLost?: (deliveries: readonly Delivery[]) => void;
}

export interface Consumer {
  /** Changes the prefetch limit (Celery raises it by one for each ETA task the worker holds). */
  setPrefetch(prefetch: number): void;
  /** Stops fetching. Deliveries already handed out stay held until settled. Idempotent. */
  cancel(): Promise<void>;
}

export interface RejectOptions {
  /** Put the message back in its queue (at the tail, as kombu's `reject(requeue=True)`). */
  readonly requeue: boolean;
  /** Why it was rejected; stored with the dead letter where the driver keeps one. */
  readonly reason?: string;
}

/**
 * A message received by a subscription. There is nothing to settle: subscriptions consume without
 * acknowledgements, as Celery's event and remote-control consumers do (`no_ack=True`), so each message is
 * delivered at most once.
 */
export interface SubscriptionMessage {
  readonly message: WireMessage;
  /** The subscription's queue. */
  readonly queue: string;
  readonly exchange: string;
  readonly routingKey: string;
}

/** Receives subscription messages. Must not throw; a handler that does is a bug, logged by the driver. */
export type SubscriptionHandler = (message: SubscriptionMessage) => void;

/**
 * A queue of one's own bound to an exchange, living as long as its subscriber: Celery's event receiver
 * (`celeryev.<uuid>` bound with `#`), a worker's remote-control mailbox (`<node>.celery.pidbox` on the
 * `celery.pidbox` fanout) and a control client's reply queue (`<oid>.reply.celery.pidbox` bound with the oid).
 * The queue is declared non-durable and auto-deleting, with the TTL and expiry given (where `queueExpiry`).
 */
export interface SubscriptionSpec {
  readonly queue: string;
  /** Declared as given before the queue is bound to it. */
  readonly exchange: ExchangeSpec;
  /** The binding key: `#` for every event, `''` on a fanout, the client's oid for replies. */
  readonly routingKey: string;
  /** Messages waiting longer are dropped (`x-message-ttl`; Celery: 5 s for events, 300 s for pidbox). */
  readonly messageTtlMs?: number;
  /** The queue goes once unused this long (`x-expires`; Celery: 60 s for events, 10 s for pidbox). */
  readonly expiresMs?: number;
}

export interface Subscription {
  readonly queue: string;
  /** Stops receiving and deletes the queue and its binding (kombu deletes its auto-delete queues on close). Idempotent. */
  cancel(): Promise<void>;
}

/** Broadcast and reply subscriptions (what the events receiver, the pidbox mailbox and its client need). */
export interface Subscriptions {
  /**
   * Declares the exchange and the queue, binds it, and hands every message routed to it to `handler` until
   * cancelled. Resolves once a message published afterwards will be received. Comes back by itself after a
   * reconnect (messages published while disconnected may be missed on `broadcast: 'pubsub'` drivers).
   */
  subscribe(spec: SubscriptionSpec, handler: SubscriptionHandler): Promise<Subscription>;
}

/**
 * For brokers that take back deliveries held unsettled too long (RabbitMQ's `consumer_timeout`): the worker hands a
 * far-future ETA delivery back instead of holding it.
 */
export interface Deferral {
  /** ETA deliveries due later than this many milliseconds from now are deferred, not held. */
  readonly afterMs: number;
  /**
   * Hands the delivery back to the broker to be delivered again, to its queue, shortly before `eta` (ms since the
   * epoch; within a second), and settles it. Rejects with ConnectionError when the delivery was lost meanwhile (it
   * comes back anyway).
   */
  defer(delivery: Delivery, eta: number): Promise<void>;
}

export interface Broker {
  /** The URL with any password masked, for logs. */
  readonly url: string;
  readonly capabilities: BrokerCapabilities;
  /** Connects (with retries); fails with a message naming the URL when the broker cannot be reached. */
  connect(): Promise<void>;
  /**
   * Declares queues, their exchanges and bindings (idempotent). Several specs with the same queue name bind that
   * queue several times (to other exchanges or with other keys). An exchange declared with `declareExchange`
   * keeps the type and flags given there.
   */
  declare(queues: readonly QueueSpec[]): Promise<void>;
  /**
   * Declares an exchange (idempotent). Publishing to it then routes as kombu does on this broker: by its bindings
   * for direct and topic, to every bound queue for fanout (`PUBLISH` on Redis, where `broadcast` is `'pubsub'`).
   */
  declareExchange(exchange: ExchangeSpec): Promise<void>;
  /** Resolves once the broker has the message (publisher confirms where the broker has them). */
  publish(message: WireMessage, route: Route, options?: PublishOptions): Promise<void>;
  /**
   * Publishes many messages in as few round trips as the server allows, in order per queue; resolves once the
   * broker has them all. Drivers without a batch path publish them one by one (`publishEach`).
   */
  publishMany(items: readonly PublishItem[]): Promise<void>;
  consume(queues: readonly QueueSpec[], handler: DeliveryHandler, options: ConsumeOptions): Promise<Consumer>;
  /** Acknowledges deliveries: they are gone for good. Drivers batch these into as few round trips as they can. */
  ack(deliveries: readonly Delivery[]): Promise<void>;
  reject(delivery: Delivery, options: RejectOptions): Promise<void>;
  /** Gives unstarted deliveries back so that they are delivered next (warm shutdown, cold shutdown). */
  requeue(deliveries: readonly Delivery[]): Promise<void>;
  /** Deletes every ready message in the queue; returns how many. */
  purge(queue: string): Promise<number>;
  /** Ready messages in the queue (all priority levels). */
  size(queue: string): Promise<number>;
  /** Closes connections and cancels subscriptions. Unsettled deliveries are given back (as `requeue`). Idempotent. */
  close(): Promise<void>;
  /** Subscriptions, or null where this process cannot receive (a pool child's stand-in). */
  readonly subscriptions: Subscriptions | null;
  /** Deferral of far-future ETA deliveries, or null when the broker never takes back held deliveries. */
  readonly deferral: Deferral | null;
}

/** `publishMany` for drivers without a batch path: every message published at once, resolved when all are. */
export async function publishEach(broker: Broker, items: readonly PublishItem[]): Promise<void> {
  await Promise.all(items.map((item) => broker.publish(item.message, item.route)));
}

/** Passed to every driver factory. */
export interface BrokerContext {
  readonly logger: Logger;
  /** `broker_transport_options`, driver-specific. */
  readonly transportOptions: Readonly<Record<string, unknown>>;
  /** Retry connecting on start-up (`broker_connection_retry_on_startup`). */
  readonly connectionRetry: boolean;
  readonly connectionMaxRetries: number;
  readonly connectionTimeoutMs: number;
  /** TLS options from `brokerUseSsl`: when given, the connection uses TLS whatever the URL's scheme. */
  readonly tls?: ConnectionOptions | undefined;
  /** Bytes of dead letters kept per queue where the driver keeps them (`deadLetterMaxBytes`), oldest dropped first. */
  readonly deadLetterMaxBytes?: number | undefined;
}

export { maskUrl } from '../lifecycle/url.js';
