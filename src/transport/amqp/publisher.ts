/**
 * Publishing with publisher confirms, pipelined: each publish resolves when RabbitMQ confirms that message, and
 * any number are in flight at once (Celery's `confirm_publish` waits for each in turn, about 15x slower in the
 * reliability battery, B12). A publish fails with ConnectionError, so the app's retry policy applies, when the
 * connection or channel is lost before the confirm, when RabbitMQ nacks it, or when no confirm comes within
 * `confirmTimeout` (a memory alarm that does not clear, a silent partition not yet detected).
 */
import { ConnectionError } from '../../errors.js';
import type { Logger } from '../../lifecycle/logger.js';
import { closeAmqp, type ConfirmChannel, type Options } from './amqplib.js';
import { describe, type AmqpClient } from './client.js';

interface Pending {
  readonly at: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  done: boolean;
}

export class ConfirmPublisher {
  private channel: ConfirmChannel | undefined;
  private opening: Promise<ConfirmChannel> | undefined;
  private readonly pending = new Set<Pending>();
  private drained: Promise<void> | undefined;
  /** Why RabbitMQ closed the publishing channel last (NOT_FOUND for a missing exchange, ...). */
  private closeReason: string | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: AmqpClient,
    private readonly logger: Logger,
    private readonly confirmTimeoutMs: number,
  ) {}

  /** Resolves once RabbitMQ has confirmed the message. */
  async publish(exchange: string, routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
    const channel = this.channel ?? (await this.open());
    if (this.drained) await this.drained;
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = { at: Date.now(), resolve, reject, done: false };
      this.pending.add(entry);
      this.sweeper ??= setInterval(() => this.sweep(), 1000).unref();
      try {
        const ok = channel.publish(exchange, routingKey, body, options, (error: unknown) =>
          this.settle(entry, error ? this.confirmError(error, exchange, routingKey) : undefined),
        );
        // The socket buffer is full: let it drain before writing more (the message itself is queued).
        if (!ok && !this.drained) {
          this.drained = new Promise<void>((done) => {
            const finish = (): void => {
              channel.off('drain', finish);
              channel.off('close', finish);
              this.drained = undefined;
              done();
            };
            channel.on('drain', finish);
            channel.on('close', finish);
          });
        }
      } catch (error) {
        // The channel closed under us (amqplib throws IllegalOperationError synchronously).
        this.settle(entry, new ConnectionError(`cannot publish: ${describe(error)}`, { cause: error }));
      }
    });
  }

  private settle(entry: Pending, error: Error | undefined): void {
    if (entry.done) return;
    entry.done = true;
    this.pending.delete(entry);
    if (error) entry.reject(error);
    else entry.resolve();
  }

  private open(): Promise<ConfirmChannel> {
    this.opening ??= (async () => {
      try {
        const channel = await this.client.confirmChannel();
        this.closeReason = undefined;
        channel.on('error', (error: Error) => {
          this.closeReason = error.message;
          this.logger.warn(`Publishing channel closed by RabbitMQ: ${error.message}`);
        });
        channel.on('close', () => this.onClose(channel));
        this.channel = channel;
        return channel;
      } finally {
        this.opening = undefined;
      }
    })();
    return this.opening;
  }

  private onClose(channel: ConfirmChannel): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    // amqplib has already failed the callbacks of this channel; anything left was never written.
    const reason = this.closeReason ?? 'connection lost';
    for (const entry of [...this.pending]) {
      this.settle(entry, new ConnectionError(`publish not confirmed: channel closed (${reason})`));
    }
  }

  /** Fails publishes that waited longer than `confirmTimeout` for their confirm. */
  private sweep(): void {
    if (this.pending.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
      return;
    }
    const limit = Date.now() - this.confirmTimeoutMs;
    for (const entry of this.pending) {
      if (entry.at > limit) break;
      const why = this.client.blocked ? ` (RabbitMQ is blocking publishers: ${this.client.blocked})` : '';
      this.settle(
        entry,
        new ConnectionError(
          `RabbitMQ did not confirm a publish within ${this.confirmTimeoutMs / 1000}s${why}; ` +
            'raise brokerTransportOptions.confirmTimeout to wait longer',
        ),
      );
    }
  }

  private confirmError(error: unknown, exchange: string, routingKey: string): Error {
    const where = `exchange "${exchange}" routing key "${routingKey}"`;
    const reason = describe(error);
    if (reason === 'message nacked') {
      return new ConnectionError(`RabbitMQ refused the message for ${where} (basic.nack)`, { cause: error });
    }
    const why =
      reason === 'channel closed' && this.closeReason ? `channel closed: ${this.closeReason}` : reason;
    return new ConnectionError(`publish to ${where} not confirmed (${why})`, { cause: error });
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    const channel = this.channel;
    this.channel = undefined;
    for (const entry of [...this.pending]) this.settle(entry, new ConnectionError('publisher closed'));
    if (channel) await closeAmqp(channel);
  }
}
