/**
 * `rpc://`: results as AMQP messages to the caller's own reply queue, as Celery's rpc backend does
 * (`celery/backends/rpc.py`, reference §2.7.7). The worker publishes every state of a task to the default exchange
 * with routing key = the request's `reply_to` and `correlation_id` = the task id (`delivery_mode` 1 unless
 * `persistent`); the client declares its reply queue (named by its oid, auto-delete, `x-expires` =
 * `resultExpires`) before it sends a task, consumes it, and keeps what arrives by task id, including results of
 * tasks it is not waiting for yet. Nothing is stored anywhere else: only the process that sent a task can read
 * its result, and a result is gone once that process has it. No groups and no chords, as in Celery.
 */
import { ConnectionError, ImproperlyConfigured, TimeoutError } from '../../errors.js';
import { delay } from '../../lifecycle/async.js';
import { retryPolicyDelayMs } from '../../lifecycle/backoff.js';
import type { Logger } from '../../lifecycle/logger.js';
import { uuid } from '../../protocol/ids.js';
import { AcceptPolicy } from '../../protocol/serializers/index.js';
import { isReadyState, States, type ResultMeta } from '../../types.js';
import { closeAmqp, type Channel, type ConsumeMessage } from '../../transport/amqp/amqplib.js';
import { AmqpClient, describe } from '../../transport/amqp/client.js';
import { passiveConsumerTags, processKeepAlive } from '../../lifecycle/idle-ref.js';
import { toFieldTable } from '../../transport/amqp/field-table.js';
import { ConfirmPublisher } from '../../transport/amqp/publisher.js';
import { parseAmqpSettings } from '../../transport/amqp/url.js';
import type {
  BackendCapabilities,
  BackendContext,
  GroupMeta,
  ResultBackend,
  StoreContext,
  WaitOptions,
} from '../backend.js';
import { buildMeta, mayOverwrite } from '../meta.js';
import { progressKey } from '../wait.js';
import { normalizeReply, replyBody } from './reply.js';

/** `type` of the marker a client sends itself to know that everything published before it has arrived. */
const FENCE_TYPE = 'celeriac.fence';
/** Ready results kept after they were read, for repeated `get()`s; unread ones are kept until read. */
const READ_CACHE = 10_000;
/** Celery's rpc publish retry policy (`celery/backends/rpc.py`): 20 retries, one second apart at most. */
const PUBLISH_RETRY = { maxRetries: 20, intervalStart: 0, intervalStep: 1, intervalMax: 1 };

const NO_GROUPS =
  'The rpc result backend cannot save groups, as in Celery (rpc.py save_group): use a redis:// or sqlite:// ' +
  'result backend for GroupResult.save() and chords';

interface Waiter {
  notify(meta: ResultMeta): void;
  fail(error: Error): void;
}

export class RpcBackend implements ResultBackend {
  readonly url = 'rpc://';
  readonly capabilities: BackendCapabilities = {
    persistent: false,
    shared: false,
    push: true,
    groups: false,
    chords: 'none',
    autoExpire: true,
  };
  private readonly client: AmqpClient;
  private readonly publisher: ConfirmPublisher;
  private readonly logger: Logger;
  private readonly oid: string;
  private readonly deliveryMode: 1 | 2;
  private readonly expiresMs: number | null;
  /** `resultAcceptContent`: replies of other types (a Python worker's `result_serializer`) are refused. */
  private readonly accept: AcceptPolicy;
  /** The latest state received per task id. */
  private readonly results = new Map<string, ResultMeta>();
  /** Task ids whose ready result was handed out, oldest first. */
  private readonly read = new Set<string>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly fences = new Map<string, () => void>();
  private listening: Promise<void> | undefined;
  private channel: Channel | undefined;
  /** Set once the reply queue was wanted, so it is declared and consumed again after a reconnect. */
  private wanted = false;

  constructor(context: BackendContext) {
    const brokerUrl = context.brokerUrl ?? '';
    if (!/^(amqps?|pyamqp):\/\//i.test(brokerUrl)) {
      throw new ImproperlyConfigured(
        `The rpc:// result backend sends results through an AMQP broker, but broker is "${brokerUrl.replace(/:[^:@/]*@/, ':****@')}": ` +
          'use an amqp:// broker, or another result backend (redis://, sqlite://)',
      );
    }
    const settings = parseAmqpSettings(
      brokerUrl,
      context.brokerTransportOptions ?? {},
      4_000,
      context.brokerTls,
    );
    this.logger = context.logger;
    this.accept = context.resultAccept ?? new AcceptPolicy(['json'], undefined, 'resultAcceptContent');
    this.oid = context.oid ?? uuid();
    this.deliveryMode = context.transportOptions.persistent === true ? 2 : 1;
    this.expiresMs = context.resultExpires === null ? null : Math.round(context.resultExpires * 1000);
    this.client = new AmqpClient({
      settings,
      logger: context.logger,
      role: 'result backend',
      retryOnStartup: true,
      maxStartupRetries: 100,
    });
    this.publisher = new ConfirmPublisher(this.client, context.logger, settings.confirmTimeoutMs);
    this.client.listen({
      connected: () => {
        if (!this.wanted) return;
        this.listening = undefined;
        this.ensureListening().catch((error: unknown) =>
          this.logger.error(`Cannot consume results from reply queue ${this.oid}: ${describe(error)}`),
        );
      },
    });
  }

  async connect(): Promise<void> {
    await this.client.connect();
  }

  /** Celery declares the reply queue before every task it sends (`on_task_call`); once per connection is enough. */
  async onTaskCall(_taskId: string): Promise<void> {
    await this.ensureListening();
  }

  private ensureListening(): Promise<void> {
    this.wanted = true;
    const listening = (this.listening ??= this.listen());
    listening.catch(() => {
      if (this.listening === listening) this.listening = undefined;
    });
    return listening;
  }

  /** Declares the reply queue exactly as kombu does (`rpc.py binding`) and consumes it without acks. */
  private async listen(): Promise<void> {
    const channel = await this.client.channel();
    channel.on('error', (error: Error) => this.logger.warn(`Reply queue channel closed: ${error.message}`));
    channel.on('close', () => {
      if (this.channel === channel) this.channel = undefined;
      if (this.listening && this.channel === undefined) this.listening = undefined;
    });
    const args = this.expiresMs === null ? undefined : toFieldTable({ 'x-expires': this.expiresMs });
    await channel.assertQueue(this.oid, {
      durable: false,
      exclusive: false,
      autoDelete: true,
      ...(args ? { arguments: args } : {}),
    });
    // The reply consumer alone does not keep the process alive; waitFor() does while someone waits.
    const consumerTag = `celeriac-rpc-${this.oid}`;
    passiveConsumerTags.add(consumerTag);
    await channel.consume(this.oid, (msg) => this.onReply(msg), { noAck: true, consumerTag });
    this.channel = channel;
  }

  private onReply(msg: ConsumeMessage | null): void {
    if (msg === null) {
      this.logger.warn(`RabbitMQ cancelled the consumer of reply queue ${this.oid}; declaring it again`);
      this.listening = undefined;
      if (this.channel) void closeAmqp(this.channel);
      this.ensureListening().catch(() => undefined);
      return;
    }
    const props = msg.properties as unknown as Record<string, unknown>;
    const correlationId = typeof props.correlationId === 'string' ? props.correlationId : undefined;
    if (props.type === FENCE_TYPE) {
      if (correlationId) this.fences.get(correlationId)?.();
      return;
    }
    let decoded: unknown;
    try {
      decoded = this.accept.decode(
        typeof props.contentType === 'string' ? props.contentType : undefined,
        msg.content,
      );
    } catch (error) {
      this.logger.warn(
        `Refused a result in reply queue ${this.oid} (task ${correlationId ?? '?'}): ${describe(error)}`,
      );
      // The caller gets the refusal as the task's failure rather than waiting for a result that never comes.
      if (correlationId) {
        const refusal = error instanceof Error ? error : new Error(String(error));
        this.receive(
          buildMeta({ state: States.FAILURE, result: refusal, request: { taskId: correlationId } }),
        );
      }
      return;
    }
    const meta = normalizeReply(decoded, correlationId);
    if (!meta) {
      this.logger.warn(`Ignored a message in reply queue ${this.oid} that is not a task result`);
      return;
    }
    this.receive(meta);
  }

  private receive(meta: ResultMeta): void {
    const taskId = meta.task_id;
    if (!mayOverwrite(this.results.get(taskId) ?? null)) return;
    this.results.set(taskId, meta);
    const waiters = this.waiters.get(taskId);
    if (waiters) for (const waiter of [...waiters]) waiter.notify(meta);
  }

  private markRead(taskId: string): void {
    this.read.delete(taskId);
    this.read.add(taskId);
    if (this.read.size <= READ_CACHE) return;
    for (const id of this.read) {
      this.read.delete(id);
      this.results.delete(id);
      if (this.read.size <= READ_CACHE) break;
    }
  }

  /** Publishes a marker to our own queue and waits for it: everything published before it has then arrived. */
  private async fence(): Promise<void> {
    await this.ensureListening();
    const id = uuid();
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve) => {
      this.fences.set(id, resolve);
      timer = setTimeout(resolve, 10_000);
    });
    try {
      await this.publisher.publish('', this.oid, Buffer.from('{}'), {
        type: FENCE_TYPE,
        correlationId: id,
        deliveryMode: 1,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
      });
      await arrived;
    } finally {
      clearTimeout(timer);
      this.fences.delete(id);
    }
  }

  async store(meta: ResultMeta, context?: StoreContext): Promise<void> {
    // No context: a result stored by this client for itself. A request without reply_to gets no result,
    // as in Celery (`rpc.py store_result`).
    const routingKey = context === undefined ? this.oid : context.replyTo;
    if (!routingKey) return;
    if (routingKey === this.oid) await this.ensureListening();
    const body = replyBody(meta);
    const options = {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {},
      deliveryMode: this.deliveryMode,
      priority: 0,
      correlationId: context?.correlationId || meta.task_id,
    };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.publisher.publish('', routingKey, body, options);
        return;
      } catch (error) {
        if (!(error instanceof ConnectionError) || attempt >= PUBLISH_RETRY.maxRetries) throw error;
        if (attempt === 0) {
          this.logger.warn(
            `Could not send the result of ${meta.task_id} (${describe(error)}); retrying for up to ` +
              `${PUBLISH_RETRY.maxRetries} seconds`,
          );
        }
        await delay(retryPolicyDelayMs(PUBLISH_RETRY, attempt));
      }
    }
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    let meta = this.results.get(taskId);
    if (!meta || !isReadyState(meta.status)) {
      await this.fence();
      meta = this.results.get(taskId);
    }
    if (meta && isReadyState(meta.status)) this.markRead(taskId);
    return meta ?? null;
  }

  async waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    await this.ensureListening();
    const release = processKeepAlive.hold();
    return new Promise<ResultMeta>((resolve, reject) => {
      let lastState: string | undefined;
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        release();
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        const set = this.waiters.get(taskId);
        set?.delete(waiter);
        if (set?.size === 0) this.waiters.delete(taskId);
      };
      const waiter: Waiter = {
        notify: (meta) => {
          if (isReadyState(meta.status)) {
            cleanup();
            this.markRead(taskId);
            resolve(meta);
          } else if (progressKey(meta) !== lastState) {
            lastState = progressKey(meta);
            options.onProgress?.(meta);
          }
        },
        fail: (error) => {
          cleanup();
          reject(error);
        },
      };
      const onAbort = (): void => {
        cleanup();
        reject(options.signal?.reason as Error);
      };
      if (options.signal?.aborted) {
        release();
        reject(options.signal.reason as Error);
        return;
      }
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      set.add(waiter);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cleanup();
          reject(new TimeoutError(`The operation timed out waiting for task ${taskId}`));
        }, options.timeoutMs);
      }
      const known = this.results.get(taskId);
      if (known) waiter.notify(known);
    });
  }

  /** Forgets what this client received for the task (there is nothing stored anywhere else). */
  async forget(taskId: string): Promise<void> {
    await this.fence();
    this.results.delete(taskId);
    this.read.delete(taskId);
  }

  async saveGroup(_groupId: string, _meta: GroupMeta): Promise<void> {
    throw new ImproperlyConfigured(NO_GROUPS);
  }

  async getGroup(_groupId: string): Promise<GroupMeta | null> {
    throw new ImproperlyConfigured(NO_GROUPS);
  }

  async deleteGroup(_groupId: string): Promise<void> {
    throw new ImproperlyConfigured(NO_GROUPS);
  }

  /** Nothing is stored. */
  async cleanup(): Promise<void> {}

  async close(): Promise<void> {
    this.wanted = false;
    for (const [taskId, waiters] of [...this.waiters]) {
      const error = new ConnectionError(`the rpc result backend was closed while waiting for task ${taskId}`);
      for (const waiter of [...waiters]) waiter.fail(error);
    }
    const channel = this.channel;
    this.channel = undefined;
    this.listening = undefined;
    if (channel) await closeAmqp(channel);
    await this.publisher.close();
    await this.client.close();
  }
}

export function createRpcBackend(_url: string, context: BackendContext): ResultBackend {
  return new RpcBackend(context);
}
