/**
 * Waiting on PostgreSQL without polling: one connection LISTENs on the task table's channel, which a trigger
 * NOTIFYs with the task id on every write (schema.ts), whoever wrote it. A waiter reads the row when its id is
 * notified, and every waiter reads again after the listening connection came back from a failure, so a result
 * written while it was away is not missed.
 */
import pg from 'pg';
import { TimeoutError } from '../../errors.js';
import { backoffDelay, defaultBackoff } from '../../lifecycle/backoff.js';
import type { Logger } from '../../lifecycle/logger.js';
import { isReadyState, type ResultMeta } from '../../types.js';
import type { WaitOptions } from '../backend.js';
import { progressKey } from '../wait.js';
import { isTransient } from './sql-client.js';

interface Waiter {
  readonly options: WaitOptions;
  lastState: string | undefined;
  resolve(meta: ResultMeta): void;
  reject(error: Error): void;
}

export class PgResultListener {
  private client: pg.Client | undefined;
  private ready: Promise<void> | undefined;
  private closed = false;
  private attempt = 0;
  private readonly waiters = new Map<string, Set<Waiter>>();

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly channel: string,
    private readonly read: (taskId: string) => Promise<ResultMeta | null>,
    private readonly logger: Logger,
  ) {}

  private start(): Promise<void> {
    this.ready ??= this.listen();
    return this.ready;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(this.config);
    client.on('notification', (message) => {
      if (message.payload) void this.check(message.payload);
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      this.ready = undefined;
      throw error;
    }
    this.client = client;
    this.attempt = 0;
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.ready = undefined;
    this.logger.warn(`database result backend: LISTEN connection lost (${error.message}); reconnecting`);
    void client.end().catch(() => undefined);
    void this.reconnect();
  }

  private reconnecting = false;

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      await this.reconnectLoop();
    } finally {
      this.reconnecting = false;
    }
  }

  private async reconnectLoop(): Promise<void> {
    while (!this.closed && this.waiters.size > 0) {
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(defaultBackoff, this.attempt++)));
      try {
        await this.start();
        // Whatever was written while nobody listened is read now.
        for (const taskId of [...this.waiters.keys()]) void this.check(taskId);
        return;
      } catch (error) {
        this.logger.warn(`database result backend: cannot LISTEN yet: ${(error as Error).message}`);
      }
    }
  }

  private async check(taskId: string): Promise<void> {
    const waiters = this.waiters.get(taskId);
    if (!waiters) return;
    let meta: ResultMeta | null;
    try {
      meta = await this.read(taskId);
    } catch (error) {
      // A row that cannot be read (a pickle that is not plain data) ends the wait with that error; a read that
      // failed because the database is away is tried again on the next notification or reconnect.
      if (!isTransient(error)) {
        for (const waiter of [...waiters]) waiter.reject(error as Error);
        return;
      }
      this.logger.warn(`database result backend: reading ${taskId} failed: ${(error as Error).message}`);
      return;
    }
    if (!meta) return;
    for (const waiter of [...waiters]) {
      if (isReadyState(meta.status)) waiter.resolve(meta);
      else if (progressKey(meta) !== waiter.lastState) {
        waiter.lastState = progressKey(meta);
        waiter.options.onProgress?.(meta);
      }
    }
  }

  async waitFor(taskId: string, options: WaitOptions): Promise<ResultMeta> {
    let cleanup = (): void => undefined;
    const result = new Promise<ResultMeta>((resolve, reject) => {
      const set = this.waiters.get(taskId) ?? new Set<Waiter>();
      this.waiters.set(taskId, set);
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(
              () => waiter.reject(new TimeoutError(`The operation timed out waiting for task ${taskId}`)),
              options.timeoutMs,
            );
      const onAbort = (): void => waiter.reject(options.signal?.reason as Error);
      cleanup = () => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        set.delete(waiter);
        if (set.size === 0) this.waiters.delete(taskId);
      };
      const waiter: Waiter = {
        options,
        lastState: undefined,
        resolve: (meta) => (cleanup(), resolve(meta)),
        reject: (error) => (cleanup(), reject(error)),
      };
      set.add(waiter);
      if (options.signal?.aborted) onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    // LISTEN first, then read: a result written in between is either read here or notified.
    this.start().then(
      () => this.check(taskId),
      () => void this.reconnect(),
    );
    try {
      return await result;
    } finally {
      cleanup();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
