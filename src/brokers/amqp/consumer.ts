/**
 * One `consume()` call: a channel with basic.qos as Celery sets it, a basic.consume per queue, and the deliveries
 * handed out on that channel. Delivery tags belong to their channel, so a delivery is settled only on the channel
 * it came on: when that channel dies (connection loss, a channel error, a consumer cancelled by the server), its
 * unsettled deliveries are reported lost (RabbitMQ delivers them again) and never acknowledged on a new channel.
 * The consumer then re-opens on the current connection, re-declaring its queues, until it is cancelled.
 */
import type { Logger } from '../../lifecycle/logger.js';
import { backoffDelay, defaultBackoff } from '../../lifecycle/backoff.js';
import type { WireMessage } from '../../protocol/message.js';
import type { ConsumeOptions, Consumer, Delivery, DeliveryHandler, QueueSpec } from '../broker.js';
import { closeAmqp, type Channel, type ConsumeMessage } from '../../transport/amqp/amqplib.js';
import { describe, type AmqpClient } from '../../transport/amqp/client.js';
import { fromDelivery } from './properties.js';

/** kombu caps prefetch_count at the AMQP short maximum (`kombu/common.py QoS`). */
const PREFETCH_MAX = 65535;

let linkIds = 0;

/** Quorum queues and streams: no global QoS on them. */
function isReplicatedQueue(spec: QueueSpec): boolean {
  const type = spec.arguments?.['x-queue-type'];
  return type === 'quorum' || type === 'stream';
}

/** A consumer's channel on one connection, and the deliveries it handed out that are not settled yet. */
export class Link {
  readonly id = ++linkIds;
  alive = true;
  /** Unsettled deliveries by delivery tag; insertion order is tag order. */
  readonly outstanding = new Map<number, AmqpDelivery>();
  /** basic.consume tags, one per queue. */
  readonly consumerTags: string[] = [];

  constructor(readonly channel: Channel) {}

  /**
   * Acknowledges with as few frames as possible: one `multiple` ack for the run of deliveries at the head of the
   * channel's unsettled set, then one ack per delivery for the rest. Returns how many could not be acknowledged
   * because the channel is gone (RabbitMQ redelivers those).
   */
  ack(deliveries: readonly AmqpDelivery[]): number {
    if (!this.alive) return deliveries.length;
    try {
      if (deliveries.length === 1) {
        const d = deliveries[0]!;
        if (this.outstanding.delete(d.deliveryTag)) this.channel.ack(d.raw);
        return 0;
      }
      const batch = new Set<number>();
      for (const d of deliveries) if (this.outstanding.has(d.deliveryTag)) batch.add(d.deliveryTag);
      let last: AmqpDelivery | undefined;
      let run = 0;
      for (const [tag, d] of this.outstanding) {
        if (!batch.has(tag)) break;
        last = d;
        run++;
      }
      if (last) {
        this.channel.ack(last.raw, run > 1);
        for (const tag of this.outstanding.keys()) {
          if (run-- === 0) break;
          this.outstanding.delete(tag);
          batch.delete(tag);
        }
      }
      for (const tag of batch) {
        const d = this.outstanding.get(tag)!;
        this.outstanding.delete(tag);
        this.channel.ack(d.raw);
      }
      return 0;
    } catch {
      // The channel closed between our check and the write; its 'close' handler reports the rest as lost.
      return deliveries.length;
    }
  }

  /** basic.reject; false when the channel is gone. */
  reject(delivery: AmqpDelivery, requeue: boolean): boolean {
    if (!this.alive || !this.outstanding.delete(delivery.deliveryTag)) return false;
    try {
      this.channel.reject(delivery.raw, requeue);
      return true;
    } catch {
      return false;
    }
  }
}

export class AmqpDelivery implements Delivery {
  constructor(
    readonly message: WireMessage,
    readonly queue: string,
    readonly link: Link,
    readonly raw: ConsumeMessage,
  ) {}

  get deliveryTag(): number {
    return this.raw.fields.deliveryTag;
  }

  get tag(): string {
    return `${this.link.id}.${this.raw.fields.deliveryTag}`;
  }

  get exchange(): string {
    return this.raw.fields.exchange;
  }

  get routingKey(): string {
    return this.raw.fields.routingKey;
  }

  get redelivered(): boolean {
    return this.raw.fields.redelivered;
  }
}

export interface ConsumerDeps {
  readonly client: AmqpClient;
  readonly logger: Logger;
  readonly declare: (channel: Channel, queues: readonly QueueSpec[]) => Promise<void>;
  /** basic.qos `global` flag: true on RabbitMQ >= 3.3, as kombu sets it (`qos_semantics_matches_spec`). */
  readonly globalQos: () => boolean;
}

export class AmqpConsumer implements Consumer {
  private link: Link | undefined;
  private prefetch: number;
  private cancelled = false;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly unlisten: () => void;
  private opening: Promise<void> | undefined;

  constructor(
    private readonly deps: ConsumerDeps,
    readonly queues: readonly QueueSpec[],
    private readonly handler: DeliveryHandler,
    private readonly options: ConsumeOptions,
    /**
     * Consume without acknowledgements (`no_ack`, as Celery's event and pidbox consumers): RabbitMQ forgets each
     * message as it sends it, nothing is held, nothing can be lost or settled.
     */
    private readonly noAck = false,
  ) {
    this.prefetch = options.prefetch;
    this.unlisten = deps.client.listen({ connected: () => this.reopen() });
  }

  private get names(): string {
    return this.queues.map((q) => q.name).join(', ');
  }

  /** Opens the channel, declares the queues, sets qos and starts consuming. */
  open(): Promise<void> {
    this.opening ??= this.doOpen().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async doOpen(): Promise<void> {
    const channel = await this.deps.client.channel();
    const link = new Link(channel);
    channel.on('error', (error: Error) =>
      this.deps.logger.warn(`Consumer channel for ${this.names} closed by RabbitMQ: ${error.message}`),
    );
    channel.on('close', () => this.onClose(link));
    try {
      await this.deps.declare(channel, this.queues);
      await this.applyPrefetch(channel);
      this.link = link;
      for (const spec of this.queues) {
        const queue = spec.name;
        const { consumerTag } = await channel.consume(queue, (msg) => this.onMessage(link, queue, msg), {
          noAck: this.noAck,
        });
        link.consumerTags.push(consumerTag);
      }
      this.attempts = 0;
    } catch (error) {
      this.link = undefined;
      link.alive = false;
      await closeAmqp(channel);
      throw error;
    }
  }

  /** Re-opens after a loss, retrying with backoff (and saying so) until it works or the consumer is cancelled. */
  private reopen(): void {
    if (this.cancelled || this.link?.alive || this.opening || !this.deps.client.isOpen) return;
    clearTimeout(this.retryTimer);
    this.open().then(
      () => this.deps.logger.info(`Consuming from ${this.names} again`),
      (error: unknown) => {
        if (this.cancelled || !this.deps.client.isOpen) return;
        const wait = backoffDelay({ ...defaultBackoff, maxMs: 5_000 }, this.attempts++);
        this.deps.logger.error(
          `Cannot consume from ${this.names}: ${describe(error)}; trying again in ${(wait / 1000).toFixed(1)}s`,
        );
        this.retryTimer = setTimeout(() => this.reopen(), wait);
      },
    );
  }

  private onMessage(link: Link, queue: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // basic.cancel from the server: the queue was deleted, or its node went away. Start over on a new channel.
      this.deps.logger.warn(`RabbitMQ cancelled the consumer of queue ${queue}; consuming again`);
      void closeAmqp(link.channel);
      return;
    }
    const received = fromDelivery(msg);
    const delivery = new AmqpDelivery(received.message, queue, link, msg);
    if (this.noAck) {
      this.handNoAck(queue, delivery, received.headerError);
      return;
    }
    if (received.headerError !== undefined || this.cancelled) {
      if (received.headerError !== undefined) {
        this.deps.logger.error(
          `Rejected a message from ${queue} whose headers cannot be decoded (${received.headerError})`,
        );
      }
      // After cancel, messages already on their way go straight back (requeue) rather than to a stopped handler.
      link.channel.reject(msg, this.cancelled && received.headerError === undefined);
      return;
    }
    link.outstanding.set(msg.fields.deliveryTag, delivery);
    try {
      this.handler(delivery);
    } catch (error) {
      this.deps.logger.error({ err: error }, `Delivery handler failed: ${describe(error)}`);
    }
  }

  private handNoAck(queue: string, delivery: AmqpDelivery, headerError: string | undefined): void {
    if (headerError !== undefined) {
      this.deps.logger.error(
        `Dropped a message from ${queue} whose headers cannot be decoded (${headerError})`,
      );
      return;
    }
    if (this.cancelled) return;
    try {
      this.handler(delivery);
    } catch (error) {
      this.deps.logger.error({ err: error }, `Delivery handler failed: ${describe(error)}`);
    }
  }

  private onClose(link: Link): void {
    link.alive = false;
    const lost = [...link.outstanding.values()];
    link.outstanding.clear();
    if (lost.length > 0) {
      this.deps.logger.warn(
        `${lost.length} unacknowledged deliveries from ${this.names} were on a closed channel; RabbitMQ delivers them again`,
      );
      try {
        this.options.onLost?.(lost);
      } catch (error) {
        this.deps.logger.error({ err: error }, `onLost handler failed: ${describe(error)}`);
      }
    }
    if (this.link !== link) return;
    this.link = undefined;
    // A channel-level failure on a live connection: re-open now. After a connection loss the client's
    // `connected` notification does it (amqplib closes channels before it reports the connection closed,
    // hence the turn of the event loop before looking).
    setImmediate(() => this.reopen());
  }

  /**
   * basic.qos as Celery sets it: one limit for the channel (`global`). Quorum queues refuse global QoS (RabbitMQ
   * closes the whole connection with NOT_IMPLEMENTED), so a consumer of one gets the limit per queue consumer
   * instead, split between its queues to keep the same total.
   */
  private applyPrefetch(channel: Channel): Promise<unknown> {
    const perConsumer = this.queues.some(isReplicatedQueue) || !this.deps.globalQos();
    const limit =
      perConsumer && this.prefetch > 0 ? Math.ceil(this.prefetch / this.queues.length) : this.prefetch;
    return channel.prefetch(Math.min(limit, PREFETCH_MAX), !perConsumer);
  }

  setPrefetch(prefetch: number): void {
    if (prefetch === this.prefetch) return;
    this.prefetch = prefetch;
    const link = this.link;
    if (!link?.alive) return;
    this.applyPrefetch(link.channel).catch((error: unknown) => {
      this.deps.logger.warn(`Could not change prefetch to ${prefetch}: ${describe(error)}`);
    });
  }

  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    this.unlisten();
    clearTimeout(this.retryTimer);
    await this.opening?.catch(() => undefined);
    const link = this.link;
    if (!link?.alive) return;
    // basic.cancel per consumer; the channel stays open so held deliveries can still be settled.
    for (const tag of link.consumerTags) await link.channel.cancel(tag).catch(() => undefined);
  }

  /** Closes the channel: RabbitMQ takes back everything unsettled on it. */
  async close(): Promise<void> {
    await this.cancel();
    const link = this.link;
    this.link = undefined;
    if (link?.alive) {
      link.alive = false;
      link.outstanding.clear();
      await closeAmqp(link.channel);
    }
  }
}
