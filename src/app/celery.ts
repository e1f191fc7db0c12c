/**
 * The Celery app: configuration, the task registry, publishing and result handles. Explicit by design: no default
 * app, no "current app" global, no implicit broker (ARCHITECTURE.md).
 */
import type { ResultBackend } from '../backends/backend.js';
import { backendDrivers, createBackend, type BackendFactory } from '../backends/registry.js';
import type { Broker, QueueSpec } from '../brokers/broker.js';
import { brokerDrivers, createBroker, type BrokerFactory } from '../brokers/registry.js';
import { ImproperlyConfigured, isCeleriacError } from '../errors.js';
import { delay } from '../lifecycle/async.js';
import { retryPolicyDelayMs, type RetryPolicy } from '../lifecycle/backoff.js';
import { createLogger, type Logger } from '../lifecycle/logger.js';
import { anonNodename, generateOid, uuid } from '../protocol/ids.js';
import { encodeTaskMessage, type WireMessage } from '../protocol/message.js';
import { Serializers, type Serializer } from '../protocol/serializers/index.js';
import { AsyncResult, type ResultSource } from '../result/async-result.js';
import { control, type ControlOf } from './control-port.js';
import { GroupResult, type ResultNode } from '../result/group-result.js';
import type { SignatureDict } from '../protocol/message.js';
import {
  compileSettings,
  normalizeOptions,
  resolveConfig,
  type CeleryOptions,
  type Config,
  type GivenSettings,
  type Settings,
} from './config.js';
import { currentTaskScope } from './context.js';
import { canvas, type SignatureOf } from './canvas-port.js';
import { Hooks } from './hooks.js';
import type { AddPeriodicTaskOptions, PeriodicTaskEntry, ScheduleLike } from './periodic.js';
import { checkMessageSize, prepareCall, toSignatureDict, type PreparedCall } from './publish.js';
import { Router } from './routing.js';
import { withResultAccept } from './result-accept.js';
import { setupSecurity, type SecurityOptions } from './security.js';
import { loadTlsOptions } from './tls.js';
import { LamportClock } from '../protocol/lamport-clock.js';
import { eventsPort, type AppEventsOf } from './events-port.js';
import type { TaskContext } from './context.js';
import { applyEager } from './eager.js';
import {
  isList,
  Task,
  type AnyTaskFn,
  type CallOptions,
  type SignatureLike,
  type TaskOptions,
} from './task.js';
import type { EagerResult } from '../result/eager-result.js';

/** Most messages `sendTasks` hands the broker at once (one pipeline on Redis). */
const SEND_BATCH = 5_000;

/** One call for `app.sendTasks()`: a task name with its arguments and calling options. */
export interface TaskCall {
  readonly name: string;
  readonly args?: readonly unknown[];
  readonly kwargs?: Readonly<Record<string, unknown>>;
  readonly options?: CallOptions;
}

interface PreparedMessage {
  readonly name: string;
  readonly taskId: string;
  readonly prepared: PreparedCall;
  readonly wire: WireMessage;
}

export class Celery implements ResultSource {
  /** Typed hooks for Celery's signals (`beforeTaskPublish`, `taskSuccess`, `workerReady`, ...). */
  readonly hooks = new Hooks();
  /** This app's reply-to id (kombu's oid): `reply_to` of every message it sends, and its rpc reply queue. */
  readonly oid = generateOid();
  /** Where the app logs (publish retries, unknown settings); the worker replaces it with its own. */
  logger: Logger = createLogger({ level: 'warn' });
  /** `origin` of messages this app sends: `gen<pid>@host`, or the worker's node name inside a worker. */
  origin = anonNodename();
  /** This app's Lamport clock (Celery's `app.clock`): stamps the events it sends, synced by those it receives. */
  readonly clock = new LamportClock();
  /** This app's serializers: json and msgpack, `auth` after setupSecurity(), and those given to `registerSerializer()`. */
  readonly serializers = new Serializers();

  private given: GivenSettings;
  private settings: Settings;
  private compiled: Config | undefined;
  private readonly registry = new Map<string, Task<unknown[], unknown>>();
  private brokerPromise: Promise<Broker> | undefined;
  private backendPromise: Promise<ResultBackend> | undefined;
  private routerInstance: Router | undefined;
  private readonly declared = new Map<string, Promise<void>>();
  private readonly periodic = new Map<string, PeriodicTaskEntry>();
  private readonly brokerDrivers = brokerDrivers();
  private readonly backendDrivers = backendDrivers();
  private controlClient: ControlOf | undefined;

  /**
   * The remote-control client (Celery's `app.control`): `inspect()`, `ping()`, `revoke()`, `rateLimit()`, ... over
   * the broker's `celery.pidbox` exchange. Durations are seconds.
   */
  get control(): ControlOf {
    this.controlClient ??= control().client(this);
    return this.controlClient;
  }

  /**
   * Revokes tasks by id on every worker (what `AsyncResult.revoke()` and `GroupResult.revoke()` call): workers
   * discard them when they arrive or before they run, and with `terminate` end them if running.
   */
  async revoke(
    ids: readonly string[],
    options: { terminate?: boolean; signal?: string } = {},
  ): Promise<void> {
    await control().client(this).revoke(ids, options);
  }

  /**
   * Settings are validated here: an unknown name or a bad value throws ImproperlyConfigured naming it. Keys may be
   * our camelCase names or Celery's snake_case ones.
   */
  constructor(
    readonly main: string,
    options: CeleryOptions = {},
  ) {
    this.given = normalizeOptions(options);
    this.settings = compileSettings(this.given, this.serializers);
  }

  /**
   * Merges settings from an object; keys may be our camelCase names or Celery's snake_case ones
   * (`broker_url`, `result_backend`, `task_acks_late`, ...). Unknown names and bad values throw, and leave the
   * configuration as it was.
   */
  configFromObject(source: Readonly<Record<string, unknown>>): this {
    if (this.compiled) {
      throw new ImproperlyConfigured(
        'configFromObject() was called after the configuration was first used; call it right after new Celery()',
      );
    }
    const given = { ...this.given, ...normalizeOptions(source) };
    this.settings = compileSettings(given, this.serializers);
    this.given = given;
    return this;
  }

  /**
   * The configuration, frozen. Resolved on first use (publishing, a worker starting): the CELERIAC_BROKER_URL and
   * CELERIAC_RESULT_BACKEND overrides apply, a broker is required, and the settings are checked against each other.
   */
  get conf(): Config {
    this.compiled ??= resolveConfig(this.settings, process.env, this.serializers);
    return this.compiled;
  }

  /**
   * Adds a broker driver for a URL scheme to this app (or replaces a built-in one): `factory(url, context)` returns
   * a `Broker`, which should pass `brokerConformance()`. Other apps are not affected. Register before the app first
   * connects (`getBroker()`, the first send).
   */
  registerBroker(scheme: string, factory: BrokerFactory): this {
    this.brokerDrivers.register('registerBroker', scheme, factory);
    return this;
  }

  /**
   * Adds a result backend driver for a URL scheme to this app (or replaces a built-in one): `factory(url, context)`
   * returns a `ResultBackend`, which should pass `backendConformance()`. Other apps are not affected.
   */
  registerBackend(scheme: string, factory: BackendFactory): this {
    this.backendDrivers.register('registerBackend', scheme, factory);
    return this;
  }

  /**
   * Adds a serializer to this app (kombu's `kombu.serialization.register`), usable by name in `taskSerializer`,
   * `acceptContent` (set them with `configFromObject()` after registering: `new Celery()` checks its settings
   * against the serializers it knows then) and the `serializer` calling option. Other apps are not affected. Call it
   * before the configuration is first used, as `configFromObject()`.
   */
  registerSerializer(serializer: Serializer): this {
    if (this.compiled) {
      throw new ImproperlyConfigured(
        `registerSerializer(${JSON.stringify(serializer?.name)}) was called after the configuration was first used; ` +
          'call it right after new Celery()',
      );
    }
    this.serializers.register(serializer);
    return this;
  }

  /**
   * Signs every message this app sends and verifies every message its workers receive (Celery's
   * `app.setup_security()`, the `auth` serializer). Needs taskSerializer 'auth', acceptContent ['auth'] and the
   * key, certificate and certificate store, from `options` or the security* settings. See docs/security.md.
   */
  setupSecurity(options: SecurityOptions = {}): this {
    setupSecurity(this, options);
    return this;
  }

  /** Whether messages are signed and verified (setupSecurity() was called). */
  get signing(): boolean {
    return (
      this.serializers.forType('application/data') !== undefined ||
      this.serializers.forType('application/x-celeriac-signed') !== undefined
    );
  }

  /**
   * Registers a task. Its argument and result types are inferred from `fn`. With `bind: true` the function
   * receives the running task's context (request, retry, updateState, sendEvent, signal) as its first argument.
   */
  task<A extends unknown[], R>(
    name: string,
    fn: (context: TaskContext, ...args: A) => R,
    options: TaskOptions<Awaited<R>> & { bind: true },
  ): Task<A, Awaited<R>>;
  task<A extends unknown[], R>(
    name: string,
    fn: (...args: A) => R,
    options?: TaskOptions<Awaited<R>>,
  ): Task<A, Awaited<R>>;
  task(name: string, fn: AnyTaskFn, options: TaskOptions = {}): Task<unknown[], unknown> {
    if (typeof name !== 'string' || name === '')
      throw new ImproperlyConfigured('A task needs a non-empty name, such as "tasks.add"');
    if (typeof fn !== 'function')
      throw new ImproperlyConfigured(`Task ${name}: the second argument must be the task function`);
    if (this.registry.has(name))
      throw new ImproperlyConfigured(`Task ${name} is already registered in app ${this.main}`);
    const task = new Task<unknown[], unknown>(this, name, fn, options);
    this.registry.set(name, task);
    return task;
  }

  /** Runs a task in this process (`task.apply()`, and `applyAsync()` with `taskAlwaysEager`). */
  applyEager<R>(
    task: Task<never, R>,
    args: readonly unknown[],
    kwargs: Readonly<Record<string, unknown>>,
    options: CallOptions,
    roundTrip: boolean,
  ): Promise<EagerResult<R>> {
    return applyEager<R>(this, task, args, kwargs, options, roundTrip);
  }

  /**
   * Adds a periodic task for beat (Celery's `add_periodic_task`): `app.addPeriodicTask(crontab({ minute: 0 }),
   * add.s(2, 2), { name: 'hourly add' })`. Returns the entry's name. Entries are checked when beat loads them.
   */
  addPeriodicTask(
    schedule: number | ScheduleLike,
    sig: SignatureLike,
    options: AddPeriodicTaskOptions = {},
  ): string {
    const d = toSignatureDict(sig);
    const { name, options: callOptions, ...rest } = options;
    // Celery names an unnamed entry by the signature's repr: `tasks.add(2, 2)`.
    const shown = [
      ...d.args.map((a) => JSON.stringify(a)),
      ...Object.entries(d.kwargs).map(([k, v]) => `${k}=${JSON.stringify(v)}`),
    ];
    const key = name ?? `${d.task}(${shown.join(', ')})`;
    this.periodic.set(key, {
      ...rest,
      task: d.task,
      schedule,
      args: d.args,
      kwargs: d.kwargs,
      options: { ...d.options, ...callOptions },
    });
    return key;
  }

  /** Entries added with `addPeriodicTask`, by name (`beatSchedule` holds the configured ones). */
  get periodicTasks(): ReadonlyMap<string, PeriodicTaskEntry> {
    return this.periodic;
  }

  /**
   * The app's time zone, as Celery's `app.timezone`: the `timezone` setting, else UTC with `enableUtc` (the
   * default), else the system's zone. Crontabs without their own zone are read in it.
   */
  get timezone(): string {
    const conf = this.conf;
    return conf.timezone ?? (conf.enableUtc ? 'UTC' : Intl.DateTimeFormat().resolvedOptions().timeZone);
  }

  /** Every registered task, by name. */
  get tasks(): ReadonlyMap<string, Task<unknown[], unknown>> {
    return this.registry;
  }

  get router(): Router {
    this.routerInstance ??= new Router(this.conf);
    return this.routerInstance;
  }

  /** Sends a task by name, without its code (Celery's `send_task`). */
  async sendTask<R = unknown>(
    name: string,
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<AsyncResult<R>> {
    const call = this.prepareMessage(name, args, kwargs, options);
    const { taskId, wire, prepared } = call;
    const { route } = prepared.routed;
    if (this.hooks.has('beforeTaskPublish')) await this.beforePublish(call);
    const broker = await this.getBroker();
    if (!prepared.ignoreResult) {
      const backend = await this.getBackend();
      await backend.onTaskCall?.(taskId);
    }
    const conf = this.conf;
    const policy: RetryPolicy = { ...conf.taskPublishRetryPolicy, ...options.retryPolicy };
    const retry = options.retry ?? conf.taskPublishRetry;
    await this.publishWithRetry(
      broker,
      wire,
      prepared.routed.queue,
      route,
      prepared.spec.eta ?? undefined,
      retry ? policy : null,
    );
    if (conf.taskSendSentEvent) await this.sendSentEvent(broker, call);
    if (this.hooks.has('afterTaskPublish')) {
      await this.emitHook('afterTaskPublish', { taskId, taskName: name, ...route });
    }
    return this.resultOf<R>(call);
  }

  /**
   * Sends many tasks at once (Celeriac's batch API): every message is built first (a bad call throws before
   * anything is sent), then published in batches of up to 5,000, one round trip each where the broker allows it
   * (Redis: one pipeline). Resolves, in call order, once the broker has them all. Hooks fire per message; the
   * publish retry policy applies to each batch, so a batch retried after a connection loss may be sent twice.
   */
  async sendTasks(calls: readonly TaskCall[]): Promise<AsyncResult[]> {
    if (!isList(calls)) throw new TypeError('sendTasks() takes an array of { name, args, kwargs, options }');
    const prepared = calls.map((call, i) => {
      if (typeof call !== 'object' || call === null || typeof call.name !== 'string' || call.name === '') {
        throw new TypeError(
          `sendTasks(): call ${i} needs a task name, as { name: 'tasks.add', args: [1, 2] }`,
        );
      }
      return this.prepareMessage(call.name, call.args ?? [], call.kwargs ?? {}, call.options ?? {});
    });
    if (prepared.length === 0) return [];
    const broker = await this.getBroker();
    if (prepared.some((call) => !call.prepared.ignoreResult)) {
      const backend = await this.getBackend();
      if (backend.onTaskCall) {
        for (const call of prepared) if (!call.prepared.ignoreResult) await backend.onTaskCall(call.taskId);
      }
    }
    const conf = this.conf;
    for (let start = 0; start < prepared.length; start += SEND_BATCH) {
      const batch = prepared.slice(start, start + SEND_BATCH);
      if (this.hooks.has('beforeTaskPublish')) for (const call of batch) await this.beforePublish(call);
      const options = calls[start]?.options ?? {};
      const policy: RetryPolicy = { ...conf.taskPublishRetryPolicy, ...options.retryPolicy };
      const retry = options.retry ?? conf.taskPublishRetry;
      await this.withPublishRetry(broker, retry ? policy : null, async () => {
        for (const call of batch)
          if (call.prepared.routed.queue) await this.declareOnce(broker, call.prepared.routed.queue);
        // Delayed-delivery brokers need `notBefore` per message: those go one by one.
        const delayed = broker.capabilities.delayedDelivery
          ? batch.filter((c) => c.prepared.spec.eta !== null)
          : [];
        const plain = delayed.length > 0 ? batch.filter((c) => c.prepared.spec.eta === null) : batch;
        const items = plain.map((c) => ({ message: c.wire, route: c.prepared.routed.route }));
        await Promise.all([
          broker.publishMany(items),
          ...delayed.map((c) =>
            broker.publish(c.wire, c.prepared.routed.route, { notBefore: c.prepared.spec.eta! }),
          ),
        ]);
      });
      if (conf.taskSendSentEvent) await Promise.all(batch.map((call) => this.sendSentEvent(broker, call)));
      if (this.hooks.has('afterTaskPublish')) {
        for (const call of batch) {
          await this.emitHook('afterTaskPublish', {
            taskId: call.taskId,
            taskName: call.name,
            ...call.prepared.routed.route,
          });
        }
      }
    }
    return prepared.map((call) => this.resultOf(call));
  }

  private prepareMessage(
    name: string,
    args: readonly unknown[],
    kwargs: Readonly<Record<string, unknown>>,
    options: CallOptions,
  ): PreparedMessage {
    const conf = this.conf;
    const taskId = options.taskId ?? uuid();
    const now = Date.now();
    const prepared = prepareCall(
      {
        conf,
        router: this.router,
        oid: this.oid,
        origin: this.origin,
        now,
        scope: currentTaskScope(),
        taskId,
      },
      name,
      args,
      kwargs,
      options,
    );
    const wire = encodeTaskMessage(prepared.spec, {
      serializer: prepared.serializer,
      serializers: this.serializers,
      compression: prepared.compression,
      now,
    });
    checkMessageSize(name, wire.body.length, conf.maxMessageSize);
    return { name, taskId, prepared, wire };
  }

  /** `task-sent` (`taskSendSentEvent`), published after the task as Celery's producer does; never throws. */
  private sendSentEvent(broker: Broker, call: PreparedMessage): Promise<void> {
    const { route, queue } = call.prepared.routed;
    return eventsPort().taskSent(this, broker, call.wire, { queue: queue?.name ?? null, ...route });
  }

  private beforePublish(call: PreparedMessage): Promise<void> {
    return this.emitHook('beforeTaskPublish', {
      taskId: call.taskId,
      taskName: call.name,
      headers: call.wire.headers,
      properties: call.wire.properties,
      ...call.prepared.routed.route,
    });
  }

  private resultOf<R>(call: PreparedMessage): AsyncResult<R> {
    const result = new AsyncResult<R>(call.taskId, this);
    result.ignored = call.prepared.ignoreResult;
    return result;
  }

  private async publishWithRetry(
    broker: Broker,
    wire: WireMessage,
    queue: QueueSpec | undefined,
    route: { exchange: string; routingKey: string },
    eta: number | undefined,
    policy: RetryPolicy | null,
  ): Promise<void> {
    const notBefore =
      eta !== undefined && broker.capabilities.delayedDelivery ? { notBefore: eta } : undefined;
    await this.withPublishRetry(broker, policy, async () => {
      if (queue) await this.declareOnce(broker, queue);
      await broker.publish(wire, route, notBefore);
    });
  }

  private async withPublishRetry(
    broker: Broker,
    policy: RetryPolicy | null,
    publish: () => Promise<void>,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await publish();
        return;
      } catch (error) {
        if (!policy || !isCeleriacError(error, 'ConnectionError') || attempt >= policy.maxRetries)
          throw error;
        const wait = retryPolicyDelayMs(policy, attempt);
        this.logger.warn(
          `Publish to ${broker.url} failed (${(error as Error).message}); retrying in ${wait / 1000}s`,
        );
        await delay(wait);
      }
    }
  }

  private declareOnce(broker: Broker, queue: QueueSpec): Promise<void> {
    let declared = this.declared.get(queue.name);
    if (!declared) {
      declared = broker.declare([queue]);
      declared.catch(() => this.declared.delete(queue.name));
      this.declared.set(queue.name, declared);
    }
    return declared;
  }

  private async emitHook<K extends 'beforeTaskPublish' | 'afterTaskPublish'>(
    name: K,
    payload: Parameters<Hooks['emit']>[1] & object,
  ): Promise<void> {
    const errors = await this.hooks.emit(name, payload as never);
    for (const error of errors)
      this.logger.error({ err: error }, `${name} hook failed: ${(error as Error).message}`);
  }

  /**
   * Events (Celery's `app.events`): `app.events.receiver(handlers, { queue, wakeup })` receives the workers' and
   * clients' events; feed them to an `EventsState` for a model of the cluster.
   */
  get events(): AppEventsOf {
    return eventsPort().api(this);
  }

  /** A handle on the result of the task with this id. */
  AsyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, this);
  }

  /**
   * A signature of a task by name, sent by this app (Celery's `app.signature`): for tasks this process does not
   * define, such as Python ones. A dict (Celery's dict form, e.g. received from Python) gives back its signature.
   */
  signature<R = unknown>(
    name: string | SignatureDict,
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions & { immutable?: boolean } = {},
  ): SignatureOf<unknown[], R> {
    return canvas().byName<R>(this, name, args, kwargs, options);
  }

  /**
   * Handles on groups: `app.GroupResult(id, results)` builds one, `app.GroupResult.restore(id)` reads back one
   * saved with `save()`.
   */
  get GroupResult(): GroupResultFactory {
    const factory = (id: string, results: readonly ResultNode[]): GroupResult =>
      new GroupResult(id, results, this);
    return Object.assign(factory, {
      restore: <R extends unknown[] = unknown[]>(id: string) => GroupResult.restore<R>(this, id),
    });
  }

  /** The connected broker (connected on first use). */
  getBroker(): Promise<Broker> {
    this.brokerPromise ??= (async () => {
      const conf = this.conf;
      const context = {
        logger: this.logger,
        transportOptions: conf.brokerTransportOptions,
        connectionRetry: conf.brokerConnectionRetry,
        connectionMaxRetries: conf.brokerConnectionMaxRetries,
        connectionTimeoutMs: conf.brokerConnectionTimeout * 1000,
        tls: conf.brokerUseSsl ? loadTlsOptions('brokerUseSsl', conf.brokerUseSsl) : undefined,
      };
      const broker = await createBroker(conf.broker, context, this.brokerDrivers);
      await broker.connect();
      return broker;
    })();
    this.brokerPromise.catch(() => (this.brokerPromise = undefined));
    return this.brokerPromise;
  }

  /** The connected result backend (the disabled one when none is configured). */
  getBackend(): Promise<ResultBackend> {
    this.backendPromise ??= (async () => {
      const conf = this.conf;
      const context = {
        logger: this.logger,
        resultExpires: conf.resultExpires,
        transportOptions: conf.resultBackendTransportOptions,
        brokerUrl: conf.broker,
        brokerTransportOptions: conf.brokerTransportOptions,
        oid: this.oid,
        database: {
          tableNames: conf.databaseTableNames,
          tableSchemas: conf.databaseTableSchemas,
          engineOptions: conf.databaseEngineOptions,
          shortLivedSessions: conf.databaseShortLivedSessions,
        },
        resultAccept: conf.resultAccept,
        tls: conf.redisBackendUseSsl
          ? loadTlsOptions('redisBackendUseSsl', conf.redisBackendUseSsl)
          : undefined,
        brokerTls: conf.brokerUseSsl ? loadTlsOptions('brokerUseSsl', conf.brokerUseSsl) : undefined,
      };
      const backend = await createBackend(conf.backend, context, this.backendDrivers);
      await backend.connect();
      return withResultAccept(backend, conf.backend, conf.resultAccept);
    })();
    this.backendPromise.catch(() => (this.backendPromise = undefined));
    return this.backendPromise;
  }

  /** Deletes every waiting message in the given queues (default: the default queue); returns how many. */
  async purge(queues: readonly string[] = [this.conf.taskDefaultQueue]): Promise<number> {
    const broker = await this.getBroker();
    let total = 0;
    for (const queue of queues) total += await broker.purge(queue);
    return total;
  }

  /** Closes the broker and backend connections. */
  async close(): Promise<void> {
    const broker = this.brokerPromise;
    const backend = this.backendPromise;
    this.brokerPromise = undefined;
    this.backendPromise = undefined;
    this.declared.clear();
    const results = await Promise.allSettled([
      broker?.then((b) => b.close()),
      backend?.then((b) => b.close()),
    ]);
    for (const result of results) {
      if (result.status === 'rejected' && !isCeleriacError(result.reason, 'ConnectionError')) {
        this.logger.debug({ err: result.reason }, 'error while closing');
      }
    }
  }
}

/** `app.GroupResult`: builds a GroupResult, or restores a saved one. */
export interface GroupResultFactory {
  (id: string, results: readonly ResultNode[]): GroupResult;
  restore<R extends unknown[] = unknown[]>(id: string): Promise<GroupResult<R> | null>;
}
