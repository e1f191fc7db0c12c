/**
 * The worker: the composition root. It builds its services (pool, executor, consumer) in a visible list, starts
 * them in order and stops them in reverse. Warm shutdown stops fetching, gives back what has not started, waits for
 * running tasks (up to `shutdownTimeout`), then closes; cold shutdown gives back everything unacknowledged at once.
 */
import { availableParallelism } from 'node:os';
import type { Celery } from '../app/celery.js';
import type { PoolName } from '../app/config.js';
import type { QueueSpec } from '../brokers/broker.js';
import { ImproperlyConfigured } from '../errors.js';
import { deferred, type Deferred } from '../lifecycle/async.js';
import type { Logger } from '../lifecycle/logger.js';
import { TaskConsumer } from './consumer.js';
import { Executor } from './executor.js';
import { defaultNodename, expandNodename } from './nodename.js';
import type { Pool } from './pools/pool.js';
import { createPool } from './pools/index.js';
import { workerTaskDefaults, type Request, type WorkerTaskDefaults } from './request.js';
import { BrokerEventDispatcher, disabledDispatcher } from '../events/dispatcher.js';

export interface WorkerOptions {
  /** Node name, `name@%h` style (default `celery@<host>`). */
  hostname?: string;
  /** Tasks run at once (default: 50 for the async pool, the CPU count for threads and prefork, 1 for solo). */
  concurrency?: number;
  pool?: PoolName;
  /** Queue names to consume from (default: the default queue). */
  queues?: readonly string[];
  prefetchMultiplier?: number;
  /** Seconds a warm shutdown waits for running tasks before it turns cold (default: forever). */
  shutdownTimeout?: number | null;
  /** Hard time limit in seconds for tasks without their own (`--time-limit`; default `taskTimeLimit`). */
  timeLimit?: number | null;
  /** Soft time limit in seconds for tasks without their own (`--soft-time-limit`; default `taskSoftTimeLimit`). */
  softTimeLimit?: number | null;
  logger?: Logger;
}

export type WorkerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export function defaultConcurrency(pool: PoolName): number {
  if (pool === 'solo') return 1;
  if (pool === 'async') return 50;
  return availableParallelism();
}

export class Worker {
  readonly hostname: string;
  readonly poolName: PoolName;
  readonly concurrency: number;
  readonly queues: readonly QueueSpec[];
  readonly prefetch: number;
  state: WorkerState = 'new';
  private readonly logger: Logger;
  private pool: Pool | undefined;
  private executor: Executor | undefined;
  private consumer: TaskConsumer | undefined;
  private stopping: Promise<void> | undefined;
  private readonly stopped: Deferred<void> = deferred();
  private readonly shutdownTimeout: number | null;
  private readonly coldRequested: Deferred<void> = deferred();
  private readonly taskDefaults: WorkerTaskDefaults;

  constructor(
    readonly app: Celery,
    options: WorkerOptions = {},
  ) {
    const conf = app.conf;
    this.hostname = options.hostname ? expandNodename(options.hostname) : defaultNodename();
    this.poolName = options.pool ?? conf.workerPool;
    const concurrency = options.concurrency ?? conf.workerConcurrency ?? defaultConcurrency(this.poolName);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new ImproperlyConfigured(`concurrency must be a positive integer, got ${concurrency}`);
    }
    this.concurrency = this.poolName === 'solo' ? 1 : concurrency;
    const multiplier = options.prefetchMultiplier ?? conf.workerPrefetchMultiplier;
    if (!Number.isInteger(multiplier) || multiplier < 0) {
      throw new ImproperlyConfigured(`prefetch multiplier must be a non-negative integer, got ${multiplier}`);
    }
    this.prefetch = this.concurrency * multiplier;
    const names = options.queues && options.queues.length > 0 ? options.queues : [conf.taskDefaultQueue];
    this.queues = names.map((name) => app.router.queue(name));
    this.shutdownTimeout =
      options.shutdownTimeout !== undefined ? options.shutdownTimeout : conf.workerShutdownTimeout;
    this.logger = options.logger ?? app.logger;
    this.taskDefaults = workerTaskDefaults(options);
  }

  /**
   * Changes a task's rate limit on this worker (what remote control's `rate_limit` calls): `"10/s"`, `"100/m"`,
   * `"5/h"`, a number per second, or null to remove it.
   */
  setRateLimit(taskName: string, rate: string | number | null): void {
    if (!this.consumer) throw new ImproperlyConfigured(`worker ${this.hostname} is not running`);
    this.consumer.setRateLimit(taskName, rate);
  }

  /** Resolves once the worker has stopped (after `stop()`). */
  get done(): Promise<void> {
    return this.stopped.promise;
  }

  /** Tasks running now. */
  get active(): number {
    return this.executor?.active ?? 0;
  }

  /** Tasks finished since start. */
  get processed(): number {
    return this.executor?.processed ?? 0;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new ImproperlyConfigured(`worker ${this.hostname} was already started`);
    this.state = 'starting';
    const { app } = this;
    app.origin = this.hostname;
    await app.hooks.emit('workerInit', { hostname: this.hostname });
    try {
      const [broker, backend] = await Promise.all([app.getBroker(), app.getBackend()]);
      this.pool = await createPool(this.poolName, { concurrency: this.concurrency, logger: this.logger });
      await this.pool.start();
      const consumerRef: { current?: TaskConsumer } = {};
      const events = app.conf.workerSendTaskEvents
        ? new BrokerEventDispatcher({ broker, hostname: this.hostname, logger: this.logger })
        : disabledDispatcher;
      this.executor = new Executor({
        app,
        broker,
        backend,
        pool: this.pool,
        logger: this.logger,
        hostname: this.hostname,
        events,
        onDone: (request) => consumerRef.current?.done(request),
      });
      this.consumer = new TaskConsumer({
        app,
        broker,
        backend,
        executor: this.executor,
        logger: this.logger,
        hostname: this.hostname,
        queues: this.queues,
        prefetch: this.prefetch,
        taskDefaults: this.taskDefaults,
        events,
      });
      consumerRef.current = this.consumer;
      await broker.declare(this.queues);
      await this.consumer.start();
    } catch (error) {
      this.state = 'stopped';
      await this.pool?.stop({ cold: true });
      await app.close();
      this.stopped.resolve();
      throw error;
    }
    this.state = 'running';
    this.logger.info(`${this.hostname} ready.`);
    await app.hooks.emit('workerReady', { hostname: this.hostname });
  }

  /**
   * Warm shutdown by default: stop fetching, give back what has not started, wait for running tasks, then close.
   * `cold` gives everything unacknowledged back without waiting. Calling it again while a warm shutdown runs
   * turns it cold.
   */
  stop(options: { cold?: boolean } = {}): Promise<void> {
    if (this.stopping) {
      if (options.cold && this.state === 'stopping') void this.coldStop();
      return this.stopping;
    }
    this.stopping = this.shutdown(options.cold ?? false);
    return this.stopping;
  }

  private coldStop(): void {
    this.logger.warn('Cold shutdown: giving back every unacknowledged message');
    this.coldRequested.resolve();
  }

  private async shutdown(cold: boolean): Promise<void> {
    if (this.state === 'stopped' || this.state === 'new') {
      this.state = 'stopped';
      this.stopped.resolve();
      return;
    }
    this.state = 'stopping';
    const { app } = this;
    const how = cold ? 'cold' : 'warm';
    this.logger.info(`${how === 'warm' ? 'Warm' : 'Cold'} shutdown (${this.hostname})`);
    await app.hooks.emit('workerShuttingDown', { hostname: this.hostname, how });
    const broker = await app.getBroker();
    await this.consumer?.stop();
    const notStarted: Request[] = [
      ...(this.consumer?.takeScheduled() ?? []),
      ...(this.executor?.takeWaiting() ?? []),
    ];
    if (notStarted.length > 0) {
      await broker
        .requeue(notStarted.filter((r) => !r.settled).map((r) => r.delivery))
        .catch((error: unknown) => {
          this.logger.error({ err: error }, `Could not give back ${notStarted.length} prefetched message(s)`);
        });
      for (const request of notStarted) request.settled = true;
    }
    if (!cold) {
      const waits: Promise<unknown>[] = [
        this.executor?.idle() ?? Promise.resolve(),
        this.coldRequested.promise,
      ];
      if (this.shutdownTimeout !== null) {
        const timeout = this.shutdownTimeout;
        waits.push(
          new Promise<void>((resolve) =>
            setTimeout(() => {
              this.logger.warn(`Tasks still running after ${timeout}s of warm shutdown: turning cold`);
              resolve();
            }, timeout * 1000).unref(),
          ),
        );
      }
      await Promise.race(waits);
    }
    const stillRunning = (this.executor?.runningRequests() ?? []).filter((r) => !r.settled);
    if (stillRunning.length > 0) {
      // Not acknowledged because they did not finish: give them back so another worker runs them (at least once).
      await broker.requeue(stillRunning.map((r) => r.delivery)).catch(() => undefined);
      for (const request of stillRunning) request.settled = true;
    }
    await this.pool?.stop({ cold: stillRunning.length > 0 || cold });
    await this.executor?.flush();
    await app.close();
    this.state = 'stopped';
    await app.hooks.emit('workerShutdown', { hostname: this.hostname });
    this.stopped.resolve();
  }
}
