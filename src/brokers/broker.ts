/**
 * The broker seam. Owned by the core and shaped by what the worker needs; every driver (memory, sqlite, redis,
 * amqp) implements it and passes `conformance/`. No driver type crosses it.
 */
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
  /** Unsettled deliveries come back to the queue when their consumer dies (lease expiry or connection loss). */
  readonly redeliversOnConsumerLoss: boolean;
  /** Messages survive a restart of the broker (or of the process, for embedded brokers). */
  readonly durable: boolean;
  /** Producers and consumers may live in different processes. */
  readonly shared: boolean;
  /** Rejected messages (`reject` without requeue) are kept in a dead-letter store with their reason. */
  readonly deadLetter: boolean;
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
  /** Extra queue arguments (`x-queue-type`, `x-message-ttl`, ...), passed through where the broker has them. */
  readonly arguments?: Readonly<Record<string, unknown>>;
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

export interface Broker {
  /** The URL with any password masked, for logs. */
  readonly url: string;
  readonly capabilities: BrokerCapabilities;
  /** Connects (with retries); fails with a message naming the URL when the broker cannot be reached. */
  connect(): Promise<void>;
  /** Declares queues, exchanges and bindings (idempotent). */
  declare(queues: readonly QueueSpec[]): Promise<void>;
  /** Resolves once the broker has the message (publisher confirms where the broker has them). */
  publish(message: WireMessage, route: Route, options?: PublishOptions): Promise<void>;
  /**
   * Optional: publishes many messages in as few round trips as the server allows, in order per queue; resolves
   * once the broker has them all. Without it the app publishes them one by one, concurrently.
   */
  publishMany?(items: readonly PublishItem[]): Promise<void>;
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
  /** Closes connections. Unsettled deliveries are given back (as `requeue`). Idempotent. */
  close(): Promise<void>;
  /**
   * Optional, for brokers that take back deliveries held unsettled too long (RabbitMQ's `consumer_timeout`):
   * hands the delivery back to the broker to be delivered again, to its queue, shortly before `eta` (ms since the
   * epoch; within a second), and settles it. The worker calls it instead of holding an ETA task due later than
   * `deferAfterMs`. Rejects with ConnectionError when the delivery was lost meanwhile (it comes back anyway).
   */
  defer?(delivery: Delivery, eta: number): Promise<void>;
  /** With `defer`: ETA tasks due later than this many milliseconds from now are deferred, not held. */
  readonly deferAfterMs?: number;
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
}

export { maskUrl } from '../lifecycle/url.js';
