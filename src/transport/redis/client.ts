/**
 * Redis connections shared by the `redis://` broker and result backend (ioredis underneath).
 *
 * Every connection reconnects by itself with backoff once it has been up, forever, until it is closed: a worker
 * must never stay alive but idle after Redis restarts (reference Part 3, item 6). At start-up the retries are
 * bounded (`brokerConnectionMaxRetries`) and the failure names the URL. A dead peer that sends neither data nor
 * FIN/RST (a silent partition) is noticed by a periodic PING that must be answered within `socketTimeout` (blocking
 * connections arm the same deadline on their blocking command instead); then the socket is dropped and the normal
 * reconnect runs. (ioredis' own `socketTimeout` is not used: its timer is not unref'd and would keep a finished
 * process alive.)
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { ConnectionError, ImproperlyConfigured } from '../../errors.js';
import { backoffDelay, type BackoffPolicy } from '../../lifecycle/backoff.js';
import type { Logger } from '../../lifecycle/logger.js';
import type { RedisTarget } from './url.js';
import { tlsHint } from '../../lifecycle/tls-errors.js';
import { unrefWhenIdle } from '../../lifecycle/idle-ref.js';

export type { Redis } from 'ioredis';

export interface RedisConnectionSettings {
  /** Seconds without a reply to an outstanding command before the socket counts as dead. */
  socketTimeout: number;
  /** Seconds to establish a connection. */
  connectTimeout: number;
  /** Seconds of idleness before TCP keep-alive probes start; 0 disables them. */
  keepAlive: number;
  /** Seconds between PINGs on an idle connection (kombu's `health_check_interval`); 0 disables them. */
  healthCheckInterval: number;
  /** Prefix of `CLIENT SETNAME` names, so operators (and tests) can tell the connections apart. */
  clientName: string;
  /** Sentinel: the master group name (kombu's `master_name`). */
  masterName: string | undefined;
  /** Sentinel: the password of the sentinels themselves (kombu's `sentinel_kwargs.password`). */
  sentinelPassword: string | undefined;
  /** Extra TLS options merged over those of a `rediss://` URL (the `tls` transport option). */
  tls: Readonly<Record<string, unknown>> | undefined;
}

export interface ConnectPolicy {
  /** Retry at start-up at all (`brokerConnectionRetry`). */
  retry: boolean;
  /** Attempts after the first, at start-up (`brokerConnectionMaxRetries`). */
  maxRetries: number;
  /** The setting to name in the error when start-up gives up. */
  setting: string;
}

/** Reconnects start fast and stay frequent: a restarted Redis should be in use again within a second or two. */
const RECONNECT: BackoffPolicy = { initialMs: 50, maxMs: 2_000, factor: 2, jitter: true };

/**
 * One Redis connection with Celeriac's reconnect policy. `role` names it in `CLIENT LIST`.
 * `failFast` connections reject commands at once while disconnected (publishing must fail so that the app's
 * retry policy applies); the others wait for the reconnect.
 */
export class RedisConnection {
  readonly client: Redis;
  /** Keeps the process alive until the returned function is called, even while this connection is idle. */
  readonly hold: () => () => void;
  private everReady = false;
  private closing = false;
  private lastError: Error | undefined;
  private selectError: Error | undefined;
  private readonly closed = new AbortController();
  private outage = false;
  private pinger: NodeJS.Timeout | undefined;
  private pinging = false;
  /** The start-up retry policy; `connect(policy)` replaces the constructor's. */
  private policy: ConnectPolicy;

  constructor(
    readonly target: RedisTarget,
    readonly role: string,
    private readonly settings: RedisConnectionSettings,
    private readonly logger: Logger,
    options: {
      failFast?: boolean;
      autoPipelining?: boolean;
      /**
       * With auto-pipelining: commands written at once instead of at the next turn of the event loop (for
       * commands a caller awaits one at a time, such as a producer's LPUSH loop). Only for commands whose order
       * relative to other in-flight commands on this connection does not matter.
       */
      directCommands?: readonly string[];
      policy?: ConnectPolicy;
    } = {},
  ) {
    const policy = options.policy ?? { retry: true, maxRetries: Number.POSITIVE_INFINITY, setting: 'url' };
    this.policy = policy;
    this.client = new Redis({
      ...this.ioredisOptions(options.failFast ?? false, options.autoPipelining ?? false),
      ...(options.directCommands ? { autoPipeliningIgnoredCommands: [...options.directCommands] } : {}),
    });
    // Idle connections do not keep the process alive: a producer script exits once nothing is pending.
    this.hold = unrefWhenIdle(this.client);
    this.client.on('error', (error: Error) => this.onError(error));
    this.client.on('ready', () => this.onReady());
    this.client.on('close', () => {
      if (this.everReady && !this.closing && !this.outage) {
        this.outage = true;
        this.logger.warn(`Connection to Redis lost (${target.display}, ${role}); reconnecting`);
      }
    });
  }

  private ioredisOptions(failFast: boolean, autoPipelining: boolean): RedisOptions {
    const { target, settings, policy } = this;
    const base: RedisOptions = {
      lazyConnect: true,
      db: target.db,
      connectionName: `${settings.clientName}-${this.role}-${hostname()}-${process.pid}`.replace(/\s+/g, '_'),
      disableClientInfo: true,
      connectTimeout: settings.connectTimeout * 1000,
      keepAlive: settings.keepAlive * 1000,
      enableAutoPipelining: autoPipelining,
      enableOfflineQueue: true,
      // Fail-fast connections fail the commands in flight when the connection drops, and the callers decide
      // (publish fails over to the app's retry policy; acks and lease renewals retry after the reconnect). The
      // others send them again once reconnected. (ioredis drops in-flight commands without settling them when
      // they are neither re-sent nor flushed, which would hang their callers.)
      autoResendUnfulfilledCommands: !failFast,
      maxRetriesPerRequest: failFast ? 0 : null,
      autoResubscribe: false,
      retryStrategy: (times) => this.retryDelay(times),
    };
    if (target.username !== undefined) base.username = target.username;
    if (target.password !== undefined) base.password = target.password;
    const tls = target.tls || settings.tls ? { ...target.tls, ...settings.tls } : undefined;
    if (target.kind === 'sentinel') {
      if (!settings.masterName) {
        throw new ImproperlyConfigured(
          `${policy.setting} "${target.display}" is a sentinel:// URL: set the transport option master_name ` +
            '(masterName) to the name of the monitored master',
        );
      }
      base.sentinels = target.sentinels;
      base.name = settings.masterName;
      if (settings.sentinelPassword !== undefined) base.sentinelPassword = settings.sentinelPassword;
      if (tls) {
        base.tls = tls;
        base.enableTLSForSentinelMode = true;
      }
      // Sentinel lookups follow the same bounded start-up, unbounded reconnect policy as the connection itself.
      base.sentinelRetryStrategy = (times) => this.retryDelay(times);
    } else {
      base.host = target.host;
      base.port = target.port;
      if (tls) base.tls = tls;
    }
    return base;
  }

  private retryDelay(times: number): number | null {
    const policy = this.policy;
    if (this.closing) return null;
    if (!this.everReady && (!policy.retry || times > policy.maxRetries)) return null;
    const delay = backoffDelay(RECONNECT, Math.min(times - 1, 16));
    if (!this.everReady) {
      // Every start-up retry is logged, as Celery's consumer does ("Trying again in 2.00 seconds... (1/100)").
      const reason = (this.lastError?.message ?? 'no connection') + tlsHint(this.lastError);
      const max = Number.isFinite(policy.maxRetries) ? String(policy.maxRetries) : 'unlimited';
      this.logger.warn(
        `Cannot connect to ${this.target.display} (${this.role}): ${reason}. ` +
          `Trying again in ${(delay / 1000).toFixed(2)} seconds... (${times}/${max})`,
      );
    }
    return delay;
  }

  private onError(error: Error): void {
    this.lastError = error;
    // ioredis reports a failed SELECT (no such database) as an error event and goes on in database 0: writing to
    // another database than the URL names must not happen silently.
    if (error.name === 'ReplyError' && /DB index|invalid DB/i.test(error.message)) {
      this.selectError = error;
      this.client.disconnect();
    }
    if (this.closing) return;
    // Log the first error of an outage; the rest are the same refusal repeated on every reconnect attempt.
    if (!this.outage && this.everReady) {
      this.outage = true;
      this.logger.warn(
        `Connection to Redis lost (${this.target.display}, ${this.role}): ${error.message}; reconnecting`,
      );
    } else {
      this.logger.debug(`Redis ${this.target.display} (${this.role}): ${error.message}`);
    }
  }

  private onReady(): void {
    if (this.outage) this.logger.warn(`Reconnected to Redis (${this.target.display}, ${this.role})`);
    this.outage = false;
    this.everReady = true;
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** Connects, retrying at start-up as the policy allows; rejects with a ConnectionError naming the URL. */
  async connect(policy: ConnectPolicy): Promise<void> {
    if (this.ready) return;
    this.policy = policy;
    const attempt =
      this.client.status === 'wait' || this.client.status === 'end' ? this.client.connect() : undefined;
    attempt?.catch(() => undefined);
    // Whoever awaits connect() is pending work: retries keep the process alive until they end.
    const release = this.hold();
    try {
      await this.whenReady(undefined, true);
      if (this.selectError) throw this.selectError;
    } catch {
      if (this.selectError) {
        await this.close(false);
        throw new ConnectionError(
          `Redis at ${this.target.display} refused database ${this.target.db}: ${this.selectError.message}. ` +
            `Use a database number the server has (its "databases" setting, 16 by default: 0 to 15) in ${policy.setting}`,
        );
      }
      if (this.closing) {
        throw new ConnectionError(`Connecting to Redis at ${this.target.display} was interrupted: closed`);
      }
      const reason = (this.lastError?.message ?? 'connection closed') + tlsHint(this.lastError);
      const tries = policy.retry ? policy.maxRetries + 1 : 1;
      throw new ConnectionError(
        `Cannot connect to Redis at ${this.target.display}: ${reason} (gave up after ${tries} attempt(s)). ` +
          `Check that Redis is running and the URL in ${policy.setting} is right` +
          (policy.retry
            ? ', or allow more retries (brokerConnectionMaxRetries for a worker, taskPublishRetryPolicy for a producer).'
            : '.'),
      );
    } finally {
      release();
    }
    this.startHealthChecks();
  }

  /**
   * Resolves once the connection is ready. Rejects when it ends for good (closed, or start-up gave up), or when
   * `signal` aborts.
   */
  whenReady(signal?: AbortSignal, failOnEnd = false): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new ConnectionError('aborted'));
    return new Promise<void>((resolve, reject) => {
      const done = (error?: Error): void => {
        this.client.off('ready', onReady);
        this.client.off('end', onEnd);
        signal?.removeEventListener('abort', onAbort);
        this.closed.signal.removeEventListener('abort', onClosed);
        if (error) reject(error);
        else resolve();
      };
      const onReady = (): void => done();
      const onEnd = (): void => {
        if (failOnEnd || this.closing) done(new ConnectionError(`Redis connection ${this.role} closed`));
      };
      const onAbort = (): void => done(new ConnectionError('aborted'));
      // close() while ioredis waits to retry emits no 'end': the closed signal ends the wait.
      const onClosed = (): void => done(new ConnectionError(`Redis connection ${this.role} closed`));
      this.client.on('ready', onReady);
      this.client.on('end', onEnd);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.closed.signal.addEventListener('abort', onClosed, { once: true });
      if (this.client.status === 'end' && (failOnEnd || this.closing)) onEnd();
    });
  }

  /** PINGs the connection now and then; no answer within `socketTimeout` means a dead peer: reconnect. */
  private startHealthChecks(): void {
    const every = this.settings.healthCheckInterval * 1000;
    if (every <= 0 || this.pinger) return;
    this.pinger = setInterval(() => {
      if (!this.ready || this.pinging) return;
      this.pinging = true;
      const cancel = this.deadline(this.settings.socketTimeout * 1000, 'PING');
      this.client
        .ping()
        .catch(() => undefined)
        .finally(() => {
          cancel();
          this.pinging = false;
        });
    }, every);
    this.pinger.unref();
  }

  /**
   * Drops and re-opens the connection if `ms` pass before the returned function is called (the caller calls it
   * when the awaited reply arrives).
   */
  deadline(ms: number, what: string): () => void {
    const timer = setTimeout(() => {
      if (this.closing || !this.ready) return;
      this.logger.warn(
        `No reply from Redis (${this.target.display}, ${this.role}) to ${what} within ${ms / 1000}s: reconnecting`,
      );
      this.client.disconnect(true);
    }, ms);
    timer.unref();
    return () => clearTimeout(timer);
  }

  /**
   * Closes the connection; pending commands are flushed with errors. `graceful` waits (briefly) for the replies
   * of commands already sent; a connection blocked in a blocking command closes at once instead. Idempotent.
   */
  async close(graceful = true): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.closed.abort();
    if (this.pinger) clearInterval(this.pinger);
    if (graceful && this.ready) {
      await Promise.race([
        this.client.quit().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 1_000).unref()),
      ]);
    }
    this.client.disconnect();
  }
}

/** True for errors that mean "the connection failed", as opposed to an error reply from Redis. */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return false;
  return true;
}

/** Wraps any failure of a Redis call into a ConnectionError (kept as is when it already is one). */
export function asConnectionError(error: unknown, what: string): Error {
  if (error instanceof ConnectionError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectionError(`${what}: ${message}`, { cause: error });
}

/**
 * A Lua script run with EVALSHA, falling back to EVAL when the server does not know it (first use, or after a
 * restart flushed the script cache).
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(
    client: Redis,
    keys: readonly string[],
    args: readonly (string | number | Buffer)[],
  ): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return client.eval(this.source, keys.length, ...keys, ...args);
      }
      throw error;
    }
  }
}
