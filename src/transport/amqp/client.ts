/**
 * One AMQP connection that stays up: connects with the start-up retry policy, notices loss (socket errors,
 * `CONNECTION_FORCED` from `rabbitmqctl stop_app`, missed heartbeats on a silent partition), reconnects with
 * backoff across the failover URLs, logging every attempt, and tells its users when a new connection is ready
 * so that they re-open channels, re-declare and resume consuming. Operations while disconnected fail at once
 * with ConnectionError, so that callers' retry policies apply.
 */
import { ConnectionError } from '../../errors.js';
import { backoffDelay, defaultBackoff, type BackoffPolicy } from '../../lifecycle/backoff.js';
import type { Logger } from '../../lifecycle/logger.js';
import { tlsHint } from '../../lifecycle/tls-errors.js';
import { unrefAmqpWhenIdle } from '../../lifecycle/idle-ref.js';
import { amqplib, closeAmqp, type Channel, type ChannelModel, type ConfirmChannel } from './amqplib.js';
import { clientProperties, type AmqpSettings } from './url.js';

export interface ConnectionListener {
  /** A new connection is open (`generation` counts connections); re-open channels on it. */
  connected?(generation: number): void;
  /** The connection was lost; everything opened on it is dead. */
  lost?(error: Error): void;
}

export interface AmqpClientOptions {
  readonly settings: AmqpSettings;
  readonly logger: Logger;
  /** `broker` or `result backend`, for log lines and the connection name RabbitMQ shows. */
  readonly role: string;
  readonly retryOnStartup: boolean;
  readonly maxStartupRetries: number;
  readonly backoff?: BackoffPolicy;
}

type State = 'idle' | 'open' | 'reconnecting' | 'closed';

const RECONNECT_BACKOFF: BackoffPolicy = { ...defaultBackoff, maxMs: 5_000 };

export class AmqpClient {
  private model: ChannelModel | undefined;
  private state: State = 'idle';
  private endpoint = 0;
  private readonly listeners = new Set<ConnectionListener>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Counts connections opened; a channel belongs to the generation it was opened in. */
  generation = 0;
  /** Why RabbitMQ blocked publishing (a memory or disk alarm), while it does. */
  blocked: string | null = null;
  /** The broker's version, e.g. [3, 10, 8]; empty when not RabbitMQ. */
  serverVersion: number[] = [];

  constructor(private readonly options: AmqpClientOptions) {}

  get display(): string {
    return this.options.settings.endpoints[this.endpoint]!.display;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  listen(listener: ConnectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Connects, retrying on start-up as `brokerConnectionRetry` and `brokerConnectionMaxRetries` say. */
  async connect(): Promise<void> {
    if (this.state === 'open' || this.state === 'reconnecting') return;
    if (this.state === 'closed') this.state = 'idle';
    const { retryOnStartup, maxStartupRetries, logger } = this.options;
    const endpoints = this.options.settings.endpoints;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.open();
        return;
      } catch (error) {
        // close() may have been called while we waited.
        if ((this.state as State) === 'closed') throw closedError(this.options.role);
        let reason = describe(error);
        const retries = retryOnStartup ? maxStartupRetries : 0;
        if (isRefusal(error)) {
          if (reason.includes('ConnectionOpenOk'))
            reason = `the vhost does not exist or the user may not open it (${reason})`;
          // A wrong password or a vhost the user may not open does not heal by retrying: say so at once.
          throw new ConnectionError(
            `RabbitMQ at ${this.display} refused the connection: ${reason}. Check the user, password and vhost ` +
              'in the URL (rabbitmqctl list_permissions -p <vhost> shows who may use a vhost)',
            { cause: error },
          );
        }
        if (attempt >= retries) {
          throw new ConnectionError(
            `Cannot connect to ${this.display}: ${reason}. Check that RabbitMQ is running and the URL, user, ` +
              'password and vhost are right (brokerConnectionRetry and brokerConnectionMaxRetries control retries)',
            { cause: error },
          );
        }
        this.endpoint = (this.endpoint + 1) % endpoints.length;
        const wait = backoffDelay(this.options.backoff ?? defaultBackoff, attempt);
        logger.warn(
          `Cannot connect to ${this.display}: ${reason}. Trying again in ${(wait / 1000).toFixed(2)} seconds... (${attempt + 1}/${retries})`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          // close() (a SIGTERM while connecting) ends the wait at once.
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        if ((this.state as State) === 'closed') throw closedError(this.options.role);
      }
    }
  }

  private async open(): Promise<void> {
    const { settings, role } = this.options;
    const endpoint = settings.endpoints[this.endpoint]!;
    const model = await amqplib.connect(endpoint.connect, {
      ...(endpoint.tls ? settings.tlsOptions : {}),
      timeout: settings.connectTimeoutMs,
      noDelay: true,
      keepAlive: true,
      clientProperties: clientProperties(role),
    });
    if (this.state === 'closed') {
      await closeAmqp(model);
      throw closedError(role);
    }
    // Idle connections do not keep the process alive: a producer script exits once nothing is pending.
    const stopIdleChecks = unrefAmqpWhenIdle(model.connection);
    model.on('close', stopIdleChecks);
    const server = model.connection.serverProperties;
    this.serverVersion =
      server.product === 'RabbitMQ' ? server.version.split('.').map((part) => Number(part) || 0) : [];
    let lastError: Error | undefined;
    model.on('error', (error: Error) => (lastError = error));
    model.on('close', (error?: Error) => this.onClose(model, error ?? lastError));
    model.on('blocked', (reason: string) => {
      this.blocked = reason;
      this.options.logger.warn(
        `RabbitMQ blocked publishing on ${this.display}: ${reason}. Publishes wait for the alarm to clear ` +
          `(at most ${settings.confirmTimeoutMs / 1000}s each)`,
      );
    });
    model.on('unblocked', () => {
      this.blocked = null;
      this.options.logger.info(`RabbitMQ unblocked publishing on ${this.display}`);
    });
    this.model = model;
    this.state = 'open';
    this.generation++;
    for (const listener of [...this.listeners]) listener.connected?.(this.generation);
  }

  private onClose(model: ChannelModel, error: Error | undefined): void {
    if (this.model !== model) return;
    this.model = undefined;
    this.blocked = null;
    if (this.state === 'closed') return;
    const reason = error ? describe(error) : 'closed by the server';
    this.options.logger.warn(
      `Connection to ${this.options.role} ${this.display} lost: ${reason}. Reconnecting...`,
    );
    this.state = 'reconnecting';
    const lost = new ConnectionError(`connection to ${this.display} lost: ${reason}`);
    for (const listener of [...this.listeners]) listener.lost?.(lost);
    this.scheduleReconnect(0);
  }

  private scheduleReconnect(attempt: number): void {
    const wait = backoffDelay(this.options.backoff ?? RECONNECT_BACKOFF, attempt);
    this.reconnectTimer = setTimeout(() => void this.reconnect(attempt), wait);
    // Reconnecting alone does not keep a process alive (a worker holds it alive while it runs).
    this.reconnectTimer.unref();
  }

  /** After a loss, retries forever (logging each failure): a worker must never sit disconnected in silence. */
  private async reconnect(attempt: number): Promise<void> {
    if (this.state !== 'reconnecting') return;
    try {
      await this.open();
      this.options.logger.info(`Connected to ${this.options.role} ${this.display} again`);
    } catch (error) {
      if (this.state !== 'reconnecting') return;
      this.endpoint = (this.endpoint + 1) % this.options.settings.endpoints.length;
      this.options.logger.warn(
        `Cannot reconnect to ${this.display}: ${describe(error)} (attempt ${attempt + 1}); trying again`,
      );
      this.scheduleReconnect(attempt + 1);
    }
  }

  private current(): ChannelModel {
    if (this.state === 'closed') throw closedError(this.options.role);
    if (!this.model) throw new ConnectionError(`not connected to ${this.display} (reconnecting)`);
    return this.model;
  }

  /** A new channel on the current connection; rejects with ConnectionError while disconnected. */
  async channel(): Promise<Channel> {
    try {
      return await this.current().createChannel();
    } catch (error) {
      throw asConnectionError(error, this.display);
    }
  }

  async confirmChannel(): Promise<ConfirmChannel> {
    try {
      return await this.current().createConfirmChannel();
    } catch (error) {
      throw asConnectionError(error, this.display);
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    this.wake?.();
    const model = this.model;
    this.model = undefined;
    if (model) await closeAmqp(model);
  }
}

/** 403 ACCESS_REFUSED (bad credentials) and 530 NOT_ALLOWED (vhost access) during the handshake. */
function isRefusal(error: unknown): boolean {
  // amqplib reports a refused connection.open (530 NOT_ALLOWED: no such vhost, or no permission on it) as an
  // unexpected ConnectionClose, without the reply text.
  return (
    error instanceof Error &&
    /\b(403|530)\b|ACCESS[_-]REFUSED|NOT[_-]ALLOWED|Expected ConnectionOpenOk; got <ConnectionClose/.test(
      error.message,
    )
  );
}

function closedError(role: string): ConnectionError {
  return new ConnectionError(`the ${role} connection is closed`);
}

/** A short reason for logs: the server's close text, or the socket error code and message. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const text =
    typeof code === 'string' && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
  return text + tlsHint(error);
}

export function asConnectionError(error: unknown, where: string): Error {
  if (error instanceof ConnectionError) return error;
  return new ConnectionError(`${where}: ${describe(error)}`, { cause: error });
}
