/**
 * The worker: the composition root. It builds its services (pool, executor, consumer, autoscaler) in a visible
 * list, starts them in order and stops them in reverse. Warm shutdown stops fetching, gives back what has not
 * started, waits for running tasks (up to `shutdownTimeout`), then closes; cold shutdown stops the pool and gives
 * back everything unacknowledged at once.
 */
import { registerBuiltinTasks } from '../canvas/builtins.js';
import type { Celery } from '../app/celery.js';
import type { PoolName } from '../app/config.js';
import type { QueueSpec } from '../brokers/broker.js';
import { ImproperlyConfigured, WorkerLostError } from '../errors.js';
import { deferred, type Deferred } from '../lifecycle/async.js';
import type { Logger } from '../lifecycle/logger.js';
import type { Service } from '../lifecycle/service.js';
import { States, type JsonValue } from '../types.js';
import { Autoscaler } from './autoscale.js';
import { TaskConsumer } from './consumer.js';
import { Executor } from './executor.js';
import type { Pool, PoolInfo } from './pools/pool.js';
import { createPool } from './pools/index.js';
import { compileWorkerOptions } from './options.js';
import type { Request, WorkerTaskDefaults } from './request.js';
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
  /**
   * The module exporting the app, `path[:name]` (what `-A` names): the threads and prefork pools need it, as each
   * of their children loads the app itself. Relative paths are resolved against the current directory.
   */
  appModule?: string;
  /** Replace a pool child after this many tasks (threads, prefork; default `workerMaxTasksPerChild`). */
  maxTasksPerChild?: number | null;
  /** Replace a pool child whose memory passed this many KiB after a task (default `workerMaxMemoryPerChild`). */
  maxMemoryPerChild?: number | null;
  /** `[max, min]` processes or threads: grow and shrink with the load (`--autoscale max,min`). */
  autoscale?: readonly [number, number];
  /** Requeues allowed for a task whose child died, under acksLate + rejectOnWorkerLost (default 3). */
  maxWorkerLostRequeues?: number;
  /** An embedded beat (`worker -B`): started once the worker consumes, stopped first. */
  beat?: Service;
}

/** `worker.stats()`: what Celery's `inspect stats` reports, as far as this worker knows it. */
export interface WorkerStats {
  hostname: string;
  pid: number;
  /** Seconds since start. */
  uptime: number;
  prefetch_count: number;
  /** Tasks finished since start, and running now. */
  processed: number;
  active: number;
  pool: PoolInfo;
  autoscaler?: { max: number; min: number; current: number; qty: number };
}

export type WorkerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class Worker {
  readonly hostname: string;
  readonly poolName: PoolName;
  /** Tasks at once (with autoscale: the maximum). */
  readonly concurrency: number;
  readonly queues: readonly QueueSpec[];
  readonly prefetch: number;
  readonly appModule: string | undefined;
  readonly maxTasksPerChild: number | null;
  readonly maxMemoryPerChild: number | null;
  state: WorkerState = 'new';
  /** Set when the worker stopped because of an error it could not recover from (its exit code is then 1). */
  failure: Error | undefined;
  private readonly logger: Logger;
  private pool: Pool | undefined;
  private executor: Executor | undefined;
  private consumer: TaskConsumer | undefined;
  private autoscaler: Autoscaler | undefined;
  private readonly autoscale: readonly [number, number] | undefined;
  private readonly maxWorkerLostRequeues: number | undefined;
  private startedAt = Date.now();
  private stopping: Promise<void> | undefined;
  private readonly stopped: Deferred<void> = deferred();
  private readonly shutdownTimeout: number | null;
  private readonly coldRequested: Deferred<void> = deferred();
  private readonly taskDefaults: WorkerTaskDefaults;
  private readonly beat: Service | undefined;

  constructor(
    readonly app: Celery,
    options: WorkerOptions = {},
  ) {
    registerBuiltinTasks(app);
    const compiled = compileWorkerOptions(app.conf, options);
    this.hostname = compiled.hostname;
    this.poolName = compiled.pool;
    this.autoscale = compiled.autoscale;
    this.concurrency = compiled.concurrency;
    this.appModule = compiled.appModule;
    this.maxTasksPerChild = compiled.maxTasksPerChild;
    this.maxMemoryPerChild = compiled.maxMemoryPerChild;
    this.maxWorkerLostRequeues = compiled.maxWorkerLostRequeues;
    this.prefetch = compiled.prefetch;
    this.queues = compiled.queues.map((name) => app.router.queue(name));
    this.shutdownTimeout = compiled.shutdownTimeout;
    this.logger = options.logger ?? app.logger;
    this.taskDefaults = compiled.taskDefaults;
    this.beat = options.beat;
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
    this.startedAt = Date.now();
    const { app } = this;
    app.origin = this.hostname;
    await app.hooks.emit('workerInit', { hostname: this.hostname });
    try {
      const [broker, backend] = await Promise.all([app.getBroker(), app.getBackend()]);
      const executorRef: { current?: Executor } = {};
      this.pool = await createPool(this.poolName, {
        concurrency: this.autoscale ? this.autoscale[1] : this.concurrency,
        logger: this.logger,
        appModule: this.appModule,
        hostname: this.hostname,
        broker,
        backend,
        maxTasksPerChild: this.maxTasksPerChild,
        maxMemoryPerChild: this.maxMemoryPerChild,
        onCapacityChange: () => executorRef.current?.capacityChanged(),
        onFatal: (error) => this.fatal(error),
      });
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
        ...(this.maxWorkerLostRequeues === undefined
          ? {}
          : { maxWorkerLostRequeues: this.maxWorkerLostRequeues }),
      });
      executorRef.current = this.executor;
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
      if (this.autoscale) {
        const pool = this.pool;
        const executor = this.executor;
        this.autoscaler = new Autoscaler(this.autoscale[0], this.autoscale[1], {
          logger: this.logger,
          processes: () => pool.concurrency,
          qty: () => executor.active + executor.queued,
          grow: (n) => pool.grow?.(n),
          shrink: (n) => pool.shrink?.(n),
        });
        await this.autoscaler.start();
      }
      await this.beat?.start();
    } catch (error) {
      this.state = 'stopped';
      await this.beat?.stop();
      await this.autoscaler?.stop();
      await this.pool?.stop({ cold: true });
      await app.close();
      this.stopped.resolve();
      throw error;
    }
    this.state = 'running';
    this.logger.info(`${this.hostname} ready.`);
    await app.hooks.emit('workerReady', { hostname: this.hostname });
  }

  /** What Celery's `inspect stats` reports about this worker: pid, uptime, prefetch, pool and autoscaler. */
  stats(): WorkerStats {
    const conf = this.app.conf;
    const pool = this.pool;
    const info: PoolInfo = pool?.info?.() ?? {
      implementation: `celeriac:${this.poolName}`,
      'max-concurrency': pool?.concurrency ?? this.concurrency,
    };
    const timeouts: JsonValue = [conf.taskSoftTimeLimit ?? 0, conf.taskTimeLimit ?? 0];
    return {
      hostname: this.hostname,
      pid: process.pid,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      prefetch_count: this.prefetch,
      processed: this.processed,
      active: this.active,
      pool: { ...info, timeouts },
      ...(this.autoscaler ? { autoscaler: this.autoscaler.info() } : {}),
    };
  }

  private resizable(command: string): Pool & Required<Pick<Pool, 'grow' | 'shrink'>> {
    const pool = this.pool;
    if (!pool?.grow || !pool.shrink || this.state !== 'running') {
      throw new ImproperlyConfigured(
        `${command} needs a running worker with the threads or prefork pool (this one: ${this.poolName}, ${this.state})`,
      );
    }
    return pool as Pool & Required<Pick<Pool, 'grow' | 'shrink'>>;
  }

  /** Adds `n` processes or threads (remote control `pool_grow`). */
  poolGrow(n = 1): void {
    const pool = this.resizable('pool_grow');
    if (this.autoscaler) this.autoscaler.scaleUp(n);
    else pool.grow(n);
  }

  /**
   * Removes `n` processes or threads (remote control `pool_shrink`): idle ones at once, busy ones after their
   * task. Never below one (below the autoscaler's minimum when there is one).
   */
  poolShrink(n = 1): void {
    const pool = this.resizable('pool_shrink');
    const floor = this.autoscaler ? this.autoscaler.minConcurrency : 1;
    const count = Math.min(n, Math.max(0, pool.concurrency - floor));
    if (count > 0) pool.shrink(count);
  }

  /** Changes the autoscaler's bounds (remote control `autoscale max min`); returns the new `[max, min]`. */
  setAutoscale(max: number | null, min: number | null): [number, number] {
    if (!this.autoscaler)
      throw new ImproperlyConfigured('autoscale: this worker was started without --autoscale');
    return this.autoscaler.update(max, min);
  }

  /** An error the worker cannot run past (its pool cannot start children): stop now, exit non-zero. */
  private fatal(error: Error): void {
    this.failure ??= error;
    this.logger.fatal({ err: error }, `Unrecoverable error: ${error.message}`);
    void this.stop({ cold: true });
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
    await this.beat?.stop();
    const broker = await app.getBroker();
    await this.consumer?.stop();
    const notStarted: Request[] = [
      ...(this.consumer?.takeScheduled() ?? []),
      ...(this.executor?.takeWaiting() ?? []),
    ];
    const giveBack = notStarted.filter((r) => !r.settled).map((r) => r.delivery);
    if (giveBack.length > 0) {
      await broker.requeue(giveBack).catch((error: unknown) => {
        this.logger.error({ err: error }, `Could not give back ${giveBack.length} prefetched message(s)`);
      });
    }
    for (const request of notStarted) request.settled = true;
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
    // Stopped only now: with `--autoscale max,0` the tasks being drained may still need children started.
    await this.autoscaler?.stop();
    const running = this.executor?.runningRequests() ?? [];
    if (running.length > 0 || cold) {
      // Stop the pool first, so that no task given back below can still report a result.
      await this.pool?.stop({ cold: true });
      await this.giveBack(running);
    } else {
      await this.pool?.stop();
    }
    await this.executor?.flush();
    await app.close();
    this.state = 'stopped';
    await app.hooks.emit('workerShutdown', { hostname: this.hostname });
    this.stopped.resolve();
  }

  /**
   * Tasks still running at a cold shutdown. Unacknowledged ones (acksLate) go back to the broker for another
   * worker (at least once). Ones acknowledged early cannot: they are recorded as FAILURE WorkerLostError, so the
   * loss is visible rather than a task left PENDING forever.
   */
  private async giveBack(running: readonly Request[]): Promise<void> {
    const broker = await this.app.getBroker();
    const unacked = running.filter((r) => !r.settled);
    if (unacked.length > 0) {
      await broker.requeue(unacked.map((r) => r.delivery)).catch((error: unknown) => {
        this.logger.error({ err: error }, `Could not give back ${unacked.length} running task(s)`);
      });
      for (const request of unacked) request.settled = true;
    }
    for (const request of running) {
      if (unacked.includes(request)) continue;
      this.logger.warn(`Task ${request.label} was acknowledged before it ran and is lost: stored as FAILURE`);
      const error = new WorkerLostError('Worker exited prematurely: cold shutdown');
      // The store policy (ignoreResult, storeErrorsEvenIfIgnored) applies; a failed write is logged there.
      await this.executor?.io.store(request, States.FAILURE, error);
    }
  }
}
