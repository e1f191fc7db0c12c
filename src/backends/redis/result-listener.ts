/**
 * Waiting for results by pub/sub, as Celery's Redis `ResultConsumer` does (`celery/backends/redis.py`): SUBSCRIBE to
 * `celery-task-meta-<id>` first, then GET, so a result stored in between is never missed, and no polling.
 *
 * Better than Celery on the complaints of reference Part 3, item 17: after a reconnect every channel is subscribed
 * again and every watched key read again (a result published while the connection was down is not lost), and
 * channels are unsubscribed as soon as nobody needs them.
 *
 * Unlike Celery, nothing is subscribed when a task is sent (`on_task_call`): SUBSCRIBE-then-GET at `get()` time
 * cannot miss a result, so subscribing ahead only cost every `applyAsync` a round trip (and an app that never
 * calls `get()` a subscription per task). See docs/internals/performance.md.
 */
import { TimeoutError } from '../../errors.js';
import type { Logger } from '../../lifecycle/logger.js';
import type { RedisConnection } from '../../transport/redis/client.js';
import { isReadyState, type ResultMeta } from '../../types.js';
import type { WaitOptions } from '../backend.js';
import { progressKey } from '../wait.js';
import { decodeJson } from '../../protocol/serializers/json.js';

export const TASK_KEY_PREFIX = 'celery-task-meta-';

interface Waiter {
  resolve(meta: ResultMeta): void;
  onProgress: ((meta: ResultMeta) => void) | undefined;
  lastState: string | undefined;
}

interface Channel {
  readonly taskId: string;
  readonly waiters: Set<Waiter>;
  subscribed: boolean;
  /** Subscribe and unsubscribe calls for this channel run one after the other. */
  chain: Promise<void>;
}

export class ResultListener {
  private readonly channels = new Map<string, Channel>();

  constructor(
    private readonly conn: RedisConnection,
    private readonly read: (taskIds: readonly string[]) => Promise<(ResultMeta | null)[]>,
    private readonly logger: Logger,
  ) {
    conn.client.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    conn.client.on('ready', () => void this.resubscribe());
  }

  private channel(taskId: string): Channel {
    let channel = this.channels.get(taskId);
    if (!channel) {
      channel = { taskId, waiters: new Set(), subscribed: false, chain: Promise.resolve() };
      this.channels.set(taskId, channel);
    }
    return channel;
  }

  /** Brings the subscription in line with whether anyone needs it; resolves once Redis confirmed. */
  private sync(channel: Channel): Promise<void> {
    const run = async (): Promise<void> => {
      const wanted = channel.waiters.size > 0;
      const key = TASK_KEY_PREFIX + channel.taskId;
      if (wanted && !channel.subscribed) {
        await this.conn.client.subscribe(key);
        channel.subscribed = true;
      } else if (!wanted && channel.subscribed) {
        channel.subscribed = false;
        if (this.conn.ready) await this.conn.client.unsubscribe(key).catch(() => undefined);
      }
      if (channel.waiters.size === 0 && !channel.subscribed) this.channels.delete(channel.taskId);
    };
    channel.chain = channel.chain.then(run, run);
    return channel.chain;
  }

  /** Forgets a task (its result was deleted). */
  forget(taskId: string): void {
    const channel = this.channels.get(taskId);
    if (channel) void this.sync(channel).catch(() => undefined);
  }

  async waitFor(taskId: string, options: WaitOptions): Promise<ResultMeta> {
    const channel = this.channel(taskId);
    let settle!: (meta: ResultMeta) => void;
    const result = new Promise<ResultMeta>((resolve) => (settle = resolve));
    const waiter: Waiter = { resolve: settle, onProgress: options.onProgress, lastState: undefined };
    channel.waiters.add(waiter);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const stops: Promise<never>[] = [];
      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        stops.push(
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new TimeoutError(`The operation timed out waiting for task ${taskId}`)),
              ms,
            );
          }),
        );
      }
      const signal = options.signal;
      if (signal) {
        if (signal.aborted) throw signal.reason;
        stops.push(
          new Promise<never>((_, reject) => {
            // The abort reason is whatever the caller aborted with; pass it on unchanged.
            // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
            onAbort = () => reject(signal.reason);
            signal.addEventListener('abort', onAbort, { once: true });
          }),
        );
      }
      const ready = (async () => {
        await this.sync(channel);
        const [meta] = await this.read([taskId]);
        if (meta) this.deliver(channel, meta);
        return result;
      })();
      return await Promise.race([ready, ...stops]);
    } finally {
      if (timer) clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
      channel.waiters.delete(waiter);
      void this.sync(channel).catch(() => undefined);
    }
  }

  private deliver(channel: Channel, meta: ResultMeta): void {
    const ready = isReadyState(meta.status);
    for (const waiter of channel.waiters) {
      if (ready) {
        waiter.resolve(meta);
      } else if (progressKey(meta) !== waiter.lastState) {
        waiter.lastState = progressKey(meta);
        try {
          waiter.onProgress?.(meta);
        } catch (error) {
          this.logger.error({ err: error }, `onProgress callback threw: ${(error as Error).message}`);
        }
      }
    }
    if (ready && channel.waiters.size === 0) void this.sync(channel).catch(() => undefined);
  }

  private onMessage(key: string, message: string): void {
    if (!key.startsWith(TASK_KEY_PREFIX)) return;
    const channel = this.channels.get(key.slice(TASK_KEY_PREFIX.length));
    if (!channel) return;
    let meta: ResultMeta;
    try {
      meta = decodeJson(message) as ResultMeta;
    } catch {
      this.logger.warn(`Ignored a result message on ${key} that is not JSON`);
      return;
    }
    this.deliver(channel, meta);
  }

  /** After a reconnect: subscribe again, then read every watched key (a result may have come meanwhile). */
  private async resubscribe(): Promise<void> {
    const channels = [...this.channels.values()].filter((c) => c.subscribed);
    if (channels.length === 0) return;
    try {
      await this.conn.client.subscribe(...channels.map((c) => TASK_KEY_PREFIX + c.taskId));
      const metas = await this.read(channels.map((c) => c.taskId));
      channels.forEach((channel, i) => {
        const meta = metas[i];
        if (meta) this.deliver(channel, meta);
      });
    } catch (error) {
      this.logger.warn(
        `Could not re-subscribe to ${channels.length} result channel(s): ${(error as Error).message}`,
      );
    }
  }
}
