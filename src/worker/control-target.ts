/**
 * The worker as remote control sees it (control/target.ts): what `inspect` reads from the worker's State and what
 * `control` commands change (revokes, limits, queues, pool size, events, shutdown). Built by the worker once its
 * parts exist; each method is a thin translation to Celery's reply shapes.
 */
import { cpuUsage, resourceUsage } from 'node:process';
import type { Celery } from '../app/celery.js';
import type { Broker, QueueSpec } from '../brokers/broker.js';
import type { ControlTarget, RevokeEntry } from '../control/target.js';
import { formatAwareIso } from '../protocol/time.js';
import type { JsonObject, JsonValue } from '../types.js';
import type { TaskConsumer } from './consumer.js';
import type { State } from './state.js';
import type { TaskEvents } from './task-events.js';

/** What the target needs from the worker. */
export interface ControlTargetDeps {
  readonly app: Celery;
  readonly hostname: string;
  readonly broker: Broker;
  readonly state: State;
  readonly consumer: TaskConsumer;
  readonly events: TaskEvents;
  /** `inspect stats` without the parts Celery adds here (broker, rusage, clock). */
  readonly stats: () => JsonObject;
  readonly revoke: (ids: readonly string[], terminate: boolean, signal: string) => Promise<string[]>;
  readonly poolGrow: (n: number) => void;
  readonly poolShrink: (n: number) => void;
  readonly autoscaling: boolean;
  readonly setAutoscale: (max: number | null, min: number | null) => [number, number];
  readonly shutdown: () => void;
  readonly clock: () => number;
  /** Sends a heartbeat now, where the worker has a heartbeat service. */
  readonly heartbeatNow?: () => void;
}

/** kombu's `Queue.as_dict(recurse=True)` for a queue this worker consumes. */
export function queueAsDict(spec: QueueSpec): JsonObject {
  const exchange = spec.exchange ?? spec.name;
  return {
    name: spec.name,
    exchange: {
      name: exchange,
      type: spec.exchangeType ?? 'direct',
      arguments: null,
      durable: spec.durable ?? true,
      passive: false,
      auto_delete: false,
      delivery_mode: null,
      no_declare: false,
    },
    routing_key: spec.routingKey ?? spec.name,
    queue_arguments: spec.arguments ? (spec.arguments as JsonObject) : null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: spec.durable ?? true,
    exclusive: false,
    auto_delete: spec.autoDelete ?? false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: spec.expiresMs === undefined ? null : spec.expiresMs / 1000,
    message_ttl: spec.messageTtlMs === undefined ? null : spec.messageTtlMs / 1000,
    max_length: null,
    max_length_bytes: null,
    max_priority: spec.maxPriority ?? null,
  };
}

/** Celery's `stats()['broker']` (`Connection.info()`), from the broker URL. */
function brokerInfo(url: string): JsonObject {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const transport = parsed?.protocol.replace(/:$/, '') ?? url.split(':')[0] ?? '';
  return {
    hostname: parsed?.hostname || null,
    userid: parsed?.username || null,
    virtual_host: parsed ? decodeURIComponent(parsed.pathname.replace(/^\//, '')) || '/' : null,
    port: parsed?.port ? Number(parsed.port) : null,
    insist: false,
    ssl: transport === 'rediss' || transport === 'amqps',
    transport: transport === 'amqp' || transport === 'amqps' ? 'amqp' : transport,
    connect_timeout: 4,
    transport_options: {},
    login_method: null,
    uri_prefix: null,
    heartbeat: 120.0,
    failover_strategy: 'round-robin',
    alternates: [],
  };
}

/** Celery's `rusage` keys, from Node's `process.resourceUsage()` (times in seconds, memory in KiB). */
function rusage(): JsonObject {
  const usage = resourceUsage();
  const cpu = cpuUsage();
  return {
    utime: cpu.user / 1e6,
    stime: cpu.system / 1e6,
    maxrss: usage.maxRSS,
    ixrss: usage.sharedMemorySize,
    idrss: usage.unsharedDataSize,
    isrss: usage.unsharedStackSize,
    minflt: usage.minorPageFault,
    majflt: usage.majorPageFault,
    nswap: usage.swappedOut,
    inblock: usage.fsRead,
    oublock: usage.fsWrite,
    msgsnd: usage.ipcSent,
    msgrcv: usage.ipcReceived,
    nsignals: usage.signalsCount,
    nvcsw: usage.voluntaryContextSwitches,
    nivcsw: usage.involuntaryContextSwitches,
  };
}

export function controlTarget(deps: ControlTargetDeps): ControlTarget {
  const { app, hostname, state, consumer, broker } = deps;
  return {
    hostname,
    app,
    stats: () => ({
      ...deps.stats(),
      clock: String(deps.clock()),
      broker: brokerInfo(broker.url),
      rusage: rusage(),
    }),
    active: (safe) => [...state.active].map((r) => r.info(safe) as unknown as JsonValue),
    reserved: () => [...state.reserved].map((r) => r.info() as unknown as JsonValue),
    scheduled: () =>
      [...state.scheduled].map((r) => ({
        eta: r.message.eta === null ? null : formatAwareIso(r.message.eta),
        priority: 6,
        request: r.info() as unknown as JsonValue,
      })),
    revoked: () => [...state.revoked],
    revokedEntries: () => state.revoked.entries(),
    registered: (builtins) => state.registered({ builtins }),
    taskAttribute: (name, attribute) => {
      const record = state.task(name);
      if (!record) return undefined;
      if (attribute === 'rate_limit' && record.rateLimit !== null && record.rateLimit !== undefined) {
        return String(record.rateLimit);
      }
      const value = (record.task.options as Record<string, unknown>)[attribute];
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
        return String(value);
      return undefined;
    },
    queryTask: (ids) => state.queryTask(ids) as unknown as JsonObject,
    activeQueues: () => consumer.activeQueues().map(queueAsDict),
    revoke: deps.revoke,
    mergeRevoked: (entries: Iterable<RevokeEntry>) => {
      for (const [id, at] of entries) state.revoked.add(id, at);
    },
    setRateLimit: (task, rate) => consumer.setRateLimit(task, rate),
    setTimeLimit: (task, soft, hard) => state.setTimeLimit(task, { soft, hard }),
    addConsumer: async (queue, exchange, type, routingKey) => {
      const base = app.router.queue(queue);
      const spec: QueueSpec = { ...base };
      if (exchange) Object.assign(spec, { exchange });
      if (type) Object.assign(spec, { exchangeType: type });
      if (routingKey) Object.assign(spec, { routingKey });
      await consumer.addQueue(spec);
    },
    cancelConsumer: (queue) => consumer.cancelQueue(queue),
    poolGrow: deps.poolGrow,
    poolShrink: deps.poolShrink,
    autoscaling: deps.autoscaling,
    setAutoscale: deps.setAutoscale,
    shutdown: deps.shutdown,
    setTaskEvents: (enabled) => {
      const { events } = deps;
      return enabled ? events.enable() : events.disable();
    },
    heartbeatNow: () => deps.heartbeatNow?.(),
  };
}
