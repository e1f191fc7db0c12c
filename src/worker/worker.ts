/**
 * The worker: the composition root. `compose()` builds its parts in dependency order (pool, state, settlement,
 * task events, revokes, executor, consumer, autoscaler) and lists its services in one `ServiceList`, started in
 * order and stopped in reverse. Warm shutdown drains them (stop fetching, give back what has not started, wait for
 * running tasks up to `shutdownTimeout`), then stops them; cold shutdown stops them at once, giving back everything
 * unacknowledged.
 */
import { registerBuiltinTasks } from '../canvas/builtins.js';
import type { Celery } from '../app/celery.js';
import type { PoolName } from '../app/config.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Broker, QueueSpec } from '../brokers/broker.js';
import { ImproperlyConfigured } from '../errors.js';
import { BrokerEventDispatcher } from '../events/dispatcher.js';
import '../events/port.js';
import { deferred, settledWithin, type Deferred } from '../lifecycle/async.js';
import type { Logger } from '../lifecycle/logger.js';
import { ServiceList, type Service } from '../lifecycle/service.js';
import type { JsonObject, JsonValue } from '../types.js';
import { Control } from '../control/client.js';
import { revokedFromWire } from '../control/commands.js';
import { Mailbox } from '../control/mailbox.js';
import { Autoscaler } from './autoscale.js';
import { controlTarget } from './control-target.js';
import { Heartbeat } from './heartbeat.js';
import { checkPrivileges } from './privileges.js';
import { installContainment } from './containment.js';
import { TaskConsumer } from './consumer.js';
import { Executor } from './executor.js';
import { defaultJournalDir, Journal } from './journal.js';
import type { Pool, PoolInfo } from './pools/pool.js';
import { createPool, type PoolFactory } from './pools/index.js';
import { compileWorkerOptions } from './options.js';
import type { WorkerTaskDefaults } from './request.js';
import { Revokes } from './revokes.js';
import { Settlement } from './settlement.js';
import { State } from './state.js';
import { TaskEvents } from './task-events.js';
import { WorkerIO } from './worker-io.js';
import { processKeepAlive } from '../lifecycle/idle-ref.js';

/** The longest a redelivered task waits for the start-up mingle (which itself waits a second for replies). */
const MINGLE_WAIT_MS = 10_000;

export interface WorkerOptions {
  /** Node name, `name@%h` style (default `celery@<host>`). */
  hostname?: string;
  /** Tasks run at once (default: 50 for the async pool, the CPU count for threads and prefork, 1 for solo). */
  concurrency?: number;
  /** A built-in pool (`async`, `solo`, `threads`, `prefork`) or the name of one of `pools`. */
  pool?: PoolName | (string & {});
  /**
   * Custom pools for this worker, by name (`pool: 'mine', pools: { mine: (context) => new MyPool(context) }`).
   * They cannot replace a built-in pool. A custom pool runs tasks as the Pool seam says (src/worker/pools/pool.ts).
   */
  pools?: Readonly<Record<string, PoolFactory>>;
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
  /** Seconds between heartbeats (`--heartbeat-interval`; default 2). */
  heartbeatInterval?: number;
  /**
   * Ask the other workers for their revoked ids at start (Celery's mingle, `hello`); default true. Off with
   * `--without-mingle`. Needs remote control (`workerEnableRemoteControl`).
   */
  mingle?: boolean;
  /** Send task events (`-E`, `--task-events`; default `workerSendTaskEvents`). */
  taskEvents?: boolean;
  /** Send worker-online, worker-heartbeat every 2 s and worker-offline (default true; `--without-heartbeat`). */
  heartbeat?: boolean;
}

/** `worker.stats()`: what Celery's `inspect stats` reports, as far as this worker knows it. */
export interface WorkerStats {
  hostname: string;
  pid: number;
  /** Seconds since start. */
  uptime: number;
  /** Prefetch now: concurrency x multiplier, plus one per request held for an ETA or a rate-limit token. */
  prefetch_count: number;
  /** Tasks finished since start, and running now. */
  processed: number;
  active: number;
  /** Tasks started since start, per task name (Celery's `stats()['total']`). */
  total: Record<string, number>;
  pool: PoolInfo;
  autoscaler?: { max: number; min: number; current: number; qty: number };
}

export type WorkerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/** What a running worker holds, built in order by `compose()`. */
interface Parts {
  readonly services: ServiceList;
  readonly state: State;
  readonly pool: Pool;
  readonly executor: Executor;
  readonly consumer: TaskConsumer;
  readonly revokes: Revokes;
  readonly events: TaskEvents;
  readonly heartbeat: Heartbeat | undefined;
  readonly autoscaler: Autoscaler | undefined;
  /** The remote-control mailbox, when `workerEnableRemoteControl`. */
  readonly mailbox: Mailbox | undefined;
  /** Grows or shrinks the pool and lets the executor start what now fits. */
  readonly resize: Resize;
}

interface Resize {
  grow(n: number): void;
  shrink(n: number): void;
}

/** Grows or shrinks the pool, then lets the executor start what now fits (no callback from the pool needed). */
function resizer(pool: Pool, executor: Executor): Resize {
  return {
    grow: (n) => {
      pool.grow?.(n);
      executor.capacityChanged();
    },
    shrink: (n) => {
      pool.shrink?.(n);
      executor.capacityChanged();
    },
  };
}

/**
 * The pool as a service. Its warm drain comes after the executor's (nothing runs by then): the children finish and
 * exit. Its cold stop kills them.
 */
function poolService(pool: Pool): Service {
  return {
    name: 'pool',
    start: () => pool.start(),
    drain: () => pool.stop(),
    stop: () => pool.stop({ cold: true }),
  };
}

export class Worker {
  readonly hostname: string;
  readonly poolName: PoolName | (string & {});
  private readonly customPools: Readonly<Record<string, PoolFactory>>;
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
  private parts: Parts | undefined;
  /** `[max, min]` with `--autoscale`, else undefined. */
  readonly autoscale: readonly [number, number] | undefined;
  private readonly maxWorkerLostRequeues: number | undefined;
  private stopping: Promise<void> | undefined;
  private readonly stopped: Deferred<void> = deferred();
  private readonly shutdownTimeout: number | null;
  private readonly taskDefaults: WorkerTaskDefaults;
  private readonly beat: Service | undefined;
  private readonly mingle: boolean;
  /** Whether task events were asked for at start (`-E`, `workerSendTaskEvents`); they may be turned on later. */
  readonly sendTaskEvents: boolean;
  /** Whether this worker sends heartbeats (not `--without-heartbeat`). */
  readonly sendHeartbeats: boolean;
  /** Gives back the process's uncaughtException/unhandledRejection handlers (containment.ts). */
  private releaseContainment: (() => void) | undefined;
  private readonly heartbeatInterval: number | undefined;

  constructor(
    readonly app: Celery,
    options: WorkerOptions = {},
  ) {
    registerBuiltinTasks(app);
    const compiled = compileWorkerOptions(app.conf, options);
    this.hostname = compiled.hostname;
    this.poolName = compiled.pool;
    this.customPools = options.pools ?? {};
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
    this.mingle = options.mingle ?? true;
    this.sendTaskEvents = options.taskEvents ?? app.conf.workerSendTaskEvents;
    this.sendHeartbeats = options.heartbeat ?? true;
    this.heartbeatInterval = options.heartbeatInterval;
  }

  /**
   * Changes a task's rate limit on this worker (what remote control's `rate_limit` calls): `"10/s"`, `"100/m"`,
   * `"5/h"`, a number per second, or null to remove it.
   */
  setRateLimit(taskName: string, rate: string | number | null): void {
    if (!this.parts) throw new ImproperlyConfigured(`worker ${this.hostname} is not running`);
    this.parts.consumer.setRateLimit(taskName, rate);
  }

  /** Resolves once the worker has stopped (after `stop()`). */
  get done(): Promise<void> {
    return this.stopped.promise;
  }

  /**
   * What this worker knows about its work (state.ts): requests scheduled, reserved and active, revoked ids, counts,
   * registered tasks and their limits. Undefined until `start()` has built it.
   */
  get workerState(): State | undefined {
    return this.parts?.state;
  }

  /**
   * The worker's task events, once started: `taskEvents.enable()` / `disable()` turn them on and off (remote
   * control `enable_events` / `disable_events`).
   */
  get taskEvents(): TaskEvents | undefined {
    return this.parts?.events;
  }

  /** The heartbeat service, once started (undefined with `--without-heartbeat`): `sendNow()` for `heartbeat`. */
  get heartbeat(): Heartbeat | undefined {
    return this.parts?.heartbeat;
  }

  /** Tasks running now. */
  get active(): number {
    return this.parts?.state.active.size ?? 0;
  }

  /** Tasks finished since start. */
  get processed(): number {
    return this.parts?.state.processed ?? 0;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new ImproperlyConfigured(`worker ${this.hostname} was already started`);
    this.state = 'starting';
    // Connections do not keep the process alive while idle (lifecycle/idle-ref.ts); a worker does, until it stops.
    void this.stopped.promise.then(processKeepAlive.hold());
    const { app } = this;
    app.origin = this.hostname;
    checkPrivileges(app.signing);
    this.releaseContainment = installContainment(this.logger);
    await app.hooks.emit('workerInit', { hostname: this.hostname });
    try {
      const [broker, backend] = await Promise.all([app.getBroker({ consumer: true }), app.getBackend()]);
      const parts = await this.compose(broker, backend);
      // A stop() that came in while connecting has closed the app already: start nothing.
      if (this.stopping) return;
      this.parts = parts;
      await parts.services.start();
    } catch (error) {
      // A stop() while connecting interrupted the connection: that is a shutdown, not a failure.
      const interrupted = this.stopping !== undefined;
      this.state = 'stopped';
      await app.close();
      this.releaseContainment?.();
      this.stopped.resolve();
      if (interrupted) return;
      throw error;
    }
    // A stop() that came in while the services started finishes the job.
    if (this.state !== 'starting') return;
    this.state = 'running';
    this.logger.info(`${this.hostname} ready.`);
    this.parts?.consumer.open();
    await app.hooks.emit('workerReady', { hostname: this.hostname });
  }

  /**
   * Builds the parts in dependency order, each given what it needs (no part reaches for one built after it), and
   * lists the services in the order they start; they stop in reverse. The autoscaler sits next to the pool it
   * sizes: it keeps sizing it while everything above drains (running tasks may still need children), and stops
   * before the pool does.
   */
  private async compose(broker: Broker, backend: ResultBackend): Promise<Parts> {
    const { app, hostname, logger } = this;
    const pool = await this.createPool(broker, backend);
    const state = new State({
      app,
      hostname,
      taskDefaults: this.taskDefaults,
      prefetch: this.prefetch,
      poolSize: () => pool.concurrency,
    });
    const journal = new Journal({
      dir: app.conf.workerJournalDir ?? defaultJournalDir(),
      scope: `${broker.url} ${backend.url}`,
      hostname,
      backend,
      storesResults: Boolean(app.conf.backend),
      logger,
    });
    const settlement = new Settlement({ broker, logger, state, beforeAck: () => journal.flush() });
    // One dispatcher for task and worker events, as Celery's: it costs nothing until something is sent.
    const dispatcher = new BrokerEventDispatcher({
      broker,
      hostname,
      logger,
      clock: app.clock,
      bufferGroups: ['task'],
    });
    const events = new TaskEvents(dispatcher, { enabled: this.sendTaskEvents });
    const io = new WorkerIO({ app, backend, logger, hostname });
    const revokes = new Revokes({ app, state, settlement, io, events, logger, backend });
    const shared = { app, backend, logger, hostname, state, settlement, events, revokes };
    const maxWorkerLostRequeues = this.maxWorkerLostRequeues;
    const executor = new Executor({ ...shared, pool, io, maxWorkerLostRequeues, journal });
    const consumer = new TaskConsumer({ ...shared, broker, queues: this.queues, executor });
    const resize = resizer(pool, executor);
    const autoscaler = this.createAutoscaler(pool, executor, resize);
    const heartbeat = this.sendHeartbeats
      ? new Heartbeat({
          dispatcher,
          active: () => state.active.size,
          processed: () => state.accepted,
          ...(this.heartbeatInterval === undefined ? {} : { interval: this.heartbeatInterval }),
        })
      : undefined;
    const mailbox: Mailbox | undefined = app.conf.workerEnableRemoteControl
      ? new Mailbox({
          broker,
          logger,
          target: controlTarget({
            app,
            hostname,
            broker,
            state,
            consumer,
            events,
            stats: () => this.stats() as unknown as JsonObject,
            revoke: async (ids, terminate, signal) => {
              revokes.revoke(ids);
              if (ids.length > 0) logger.info(`Tasks flagged as revoked: ${ids.join(', ')}`);
              consumer.revoked(new Set(ids));
              return terminate ? executor.terminate(ids, signal) : [];
            },
            poolGrow: (n) => this.poolGrow(n),
            poolShrink: (n) => this.poolShrink(n),
            autoscaling: autoscaler !== undefined,
            setAutoscale: (max, min) => this.setAutoscale(max, min),
            shutdown: () => void this.stop(),
            clock: () => app.clock.value,
            heartbeatNow: () => void heartbeat?.sendNow(),
          }),
        })
      : undefined;
    // Mingle runs beside the start; a redelivered task (its worker died) waits for it before it may run, but not
    // for ever: it asks for a second of replies, so a mingle still running after MINGLE_WAIT_MS is stuck somewhere.
    if (mailbox && this.mingle) {
      revokes.synced = settledWithin(this.syncRevokes(state), MINGLE_WAIT_MS, () =>
        this.logger.warn(
          `mingle: no answer within ${MINGLE_WAIT_MS / 1000}s; redelivered tasks run without the other workers' ` +
            'revoked ids',
        ),
      );
    }
    const services = new ServiceList([
      poolService(pool),
      ...(autoscaler ? [autoscaler] : []),
      settlement,
      events,
      journal,
      // Remote control answers before the first task is fetched, and stops after the executor: a worker draining
      // still answers `inspect active` and `terminate` (and adds no step between the consumer's drain and the
      // executor's, where a finished task would let the next one start).
      ...(mailbox ? [mailbox] : []),
      executor,
      consumer,
      // The next capabilities take their place here, one line each, in this order (they start last and stop
      // first): the heartbeat (issue 13).
      // worker-online once the worker consumes; worker-offline first thing in a shutdown.
      ...(heartbeat ? [heartbeat] : []),
      ...(this.beat ? [this.beat] : []),
    ]);
    return {
      services,
      state,
      pool,
      executor,
      consumer,
      revokes,
      events,
      heartbeat,
      autoscaler,
      mailbox,
      resize,
    };
  }

  private createPool(broker: Broker, backend: ResultBackend): Promise<Pool> {
    return createPool(
      this.poolName,
      {
        concurrency: this.autoscale ? this.autoscale[1] : this.concurrency,
        logger: this.logger,
        appModule: this.appModule,
        hostname: this.hostname,
        broker,
        backend,
        maxTasksPerChild: this.maxTasksPerChild,
        maxMemoryPerChild: this.maxMemoryPerChild,
        onFatal: (error) => this.fatal(error),
      },
      this.customPools,
    );
  }

  private createAutoscaler(pool: Pool, executor: Executor, resize: Resize): Autoscaler | undefined {
    if (!this.autoscale) return undefined;
    return new Autoscaler(this.autoscale[0], this.autoscale[1], {
      logger: this.logger,
      processes: () => pool.concurrency,
      qty: () => executor.active + executor.queued,
      grow: (n) => resize.grow(n),
      shrink: (n) => resize.shrink(n),
    });
  }

  /**
   * Celery's mingle: asks the other workers `hello` and merges the ids they hold revoked, so that a task revoked
   * before this worker started is not run here. Runs beside the start (it waits a second for replies).
   */
  private async syncRevokes(state: State): Promise<void> {
    const others = new Set<string>();
    try {
      const revoked: JsonObject = {};
      for (const [id, at] of state.revoked.entries()) revoked[id] = [at / 1000, id];
      // Replies are merged as they come: a second (Celery's mingle timeout) is the most anyone waits.
      await new Control(this.app).broadcast('hello', {
        arguments: { from_node: this.hostname, revoked },
        reply: true,
        timeout: 1,
        callback: (reply) => {
          for (const [node, body] of Object.entries(reply)) {
            if (node === this.hostname || !body || typeof body !== 'object' || Array.isArray(body)) continue;
            others.add(node);
            const theirs = body.revoked;
            if (theirs !== undefined)
              for (const [id, at] of revokedFromWire(theirs)) state.revoked.add(id, at);
          }
        },
      });
      this.logger.info(others.size === 0 ? 'mingle: all alone' : `mingle: sync with ${others.size} nodes`);
    } catch (error) {
      this.logger.warn(`mingle: could not sync with the other workers: ${(error as Error).message}`);
    }
  }

  /** What Celery's `inspect stats` reports about this worker: pid, uptime, prefetch, counts, pool, autoscaler. */
  stats(): WorkerStats {
    const conf = this.app.conf;
    const parts = this.parts;
    const info: PoolInfo = parts?.pool.info?.() ?? {
      implementation: `celeriac:${this.poolName}`,
      'max-concurrency': parts?.pool.concurrency ?? this.concurrency,
    };
    const timeouts: JsonValue = [conf.taskSoftTimeLimit ?? 0, conf.taskTimeLimit ?? 0];
    return {
      hostname: this.hostname,
      pid: process.pid,
      uptime: parts?.state.uptime ?? 0,
      prefetch_count: parts?.state.prefetchCount ?? this.prefetch,
      processed: this.processed,
      active: this.active,
      total: parts?.state.total() ?? {},
      pool: { ...info, timeouts },
      ...(parts?.autoscaler ? { autoscaler: parts.autoscaler.info() } : {}),
    };
  }

  private resizable(command: string): Parts {
    const parts = this.parts;
    if (!parts?.pool.grow || !parts.pool.shrink || this.state !== 'running') {
      throw new ImproperlyConfigured(
        `${command} needs a running worker with the threads or prefork pool (this one: ${this.poolName}, ${this.state})`,
      );
    }
    return parts;
  }

  /** Adds `n` processes or threads (remote control `pool_grow`). */
  poolGrow(n = 1): void {
    const { autoscaler, resize } = this.resizable('pool_grow');
    if (autoscaler) autoscaler.scaleUp(n);
    else resize.grow(n);
  }

  /**
   * Removes `n` processes or threads (remote control `pool_shrink`): idle ones at once, busy ones after their
   * task. Never below one (below the autoscaler's minimum when there is one).
   */
  poolShrink(n = 1): void {
    const { autoscaler, resize, pool } = this.resizable('pool_shrink');
    const floor = autoscaler ? autoscaler.minConcurrency : 1;
    const count = Math.min(n, Math.max(0, pool.concurrency - floor));
    if (count > 0) resize.shrink(count);
  }

  /** Changes the autoscaler's bounds (remote control `autoscale max min`); returns the new `[max, min]`. */
  setAutoscale(max: number | null, min: number | null): [number, number] {
    const autoscaler = this.parts?.autoscaler;
    if (!autoscaler) throw new ImproperlyConfigured('autoscale: this worker was started without --autoscale');
    return autoscaler.update(max, min);
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
      if (options.cold && this.state === 'stopping') this.coldStop();
      return this.stopping;
    }
    // Before anything awaits: a prefetched task must not start while the services ahead of the executor drain.
    this.parts?.executor.hold();
    this.stopping = this.shutdown(options.cold ?? false);
    return this.stopping;
  }

  private coldStop(): void {
    this.logger.warn('Cold shutdown: giving back every unacknowledged message');
    this.parts?.services.turnCold();
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
    let failed: Error | undefined;
    if (this.parts) {
      try {
        await this.stopServices(this.parts, cold);
      } catch (error) {
        failed = error instanceof Error ? error : new Error(String(error));
        this.logger.error({ err: failed }, `Error while stopping: ${failed.message}`);
      }
    }
    await app.close();
    this.state = 'stopped';
    this.releaseContainment?.();
    await app.hooks.emit('workerShutdown', { hostname: this.hostname });
    this.stopped.resolve();
    if (failed !== undefined) throw failed;
  }

  /** Stops the services; a warm stop turns cold when tasks still run after `shutdownTimeout`. */
  private async stopServices(parts: Parts, cold: boolean): Promise<void> {
    const timeout = this.shutdownTimeout;
    const timer =
      cold || timeout === null
        ? undefined
        : setTimeout(() => {
            // Only running tasks are waited for so long; the rest of a warm stop (children exiting) is not cut.
            if (parts.state.active.size === 0) return;
            this.logger.warn(`Tasks still running after ${timeout}s of warm shutdown: turning cold`);
            parts.services.turnCold();
          }, timeout * 1000).unref();
    try {
      await parts.services.stop({ cold });
    } finally {
      clearTimeout(timer);
    }
  }
}
