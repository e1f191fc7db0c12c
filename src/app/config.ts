/**
 * App configuration: camelCase options, compiled and validated once (temporal's compileWorkerOptions, in spirit).
 * Celery's snake_case setting names are accepted at this one edge and mapped in `SNAKE_CASE` below.
 */
import type { QueueSpec } from '../brokers/broker.js';
import { didYouMean, ImproperlyConfigured } from '../errors.js';
import { defaultRetryPolicy, type RetryPolicy } from '../lifecycle/backoff.js';
import { URL_EXAMPLES, urlScheme } from '../lifecycle/url.js';
import { COMPRESSION_NAMES, isCompressionName } from '../protocol/compression.js';
import { AcceptPolicy, SERIALIZER_NAMES } from '../protocol/serializers/index.js';
import type { TaskRoutes } from './routing.js';

export type PoolName = 'async' | 'solo' | 'threads' | 'prefork';

/** Options of `new Celery(name, options)`. Every one is optional; see docs/configuration.md. */
export interface CeleryOptions {
  /** Broker URL: `sqlite://celeriac.db`, `redis://localhost:6379/0`, `amqp://guest@localhost//`, `memory://`. */
  broker?: string;
  /** Result backend URL (`sqlite://...`, `redis://...`, `rpc://`, `memory://`); none disables results. */
  backend?: string | null;
  brokerTransportOptions?: Record<string, unknown>;
  resultBackendTransportOptions?: Record<string, unknown>;
  brokerConnectionRetry?: boolean;
  brokerConnectionMaxRetries?: number;
  /** Seconds. */
  brokerConnectionTimeout?: number;
  /** Seconds results are kept; null keeps them forever. Default one day. */
  resultExpires?: number | null;
  /** Store name, args, kwargs, worker, retries and queue with each result. */
  resultExtended?: boolean;
  taskSerializer?: string;
  acceptContent?: string[];
  taskCompression?: string | null;
  taskDefaultQueue?: string;
  taskDefaultExchange?: string;
  taskDefaultExchangeType?: 'direct' | 'topic' | 'fanout';
  taskDefaultRoutingKey?: string;
  taskDefaultPriority?: number | null;
  taskQueueMaxPriority?: number | null;
  taskDefaultDeliveryMode?: 1 | 2 | 'transient' | 'persistent';
  taskQueues?: QueueSpec[] | null;
  taskRoutes?: TaskRoutes | null;
  taskCreateMissingQueues?: boolean;
  taskInheritParentPriority?: boolean;
  taskAcksLate?: boolean;
  taskAcksOnFailureOrTimeout?: boolean;
  taskRejectOnWorkerLost?: boolean;
  taskTrackStarted?: boolean;
  taskIgnoreResult?: boolean;
  taskStoreErrorsEvenIfIgnored?: boolean;
  /** Seconds. */
  taskTimeLimit?: number | null;
  /** Seconds. */
  taskSoftTimeLimit?: number | null;
  taskDefaultRateLimit?: string | number | null;
  taskAlwaysEager?: boolean;
  taskEagerPropagates?: boolean;
  taskStoreEagerResult?: boolean;
  taskPublishRetry?: boolean;
  taskPublishRetryPolicy?: Partial<RetryPolicy>;
  taskSendSentEvent?: boolean;
  workerConcurrency?: number | null;
  workerPrefetchMultiplier?: number;
  workerPool?: PoolName;
  workerMaxTasksPerChild?: number | null;
  /** KiB of resident memory. */
  workerMaxMemoryPerChild?: number | null;
  workerDisableRateLimits?: boolean;
  workerDeduplicateSuccessfulTasks?: boolean;
  workerSendTaskEvents?: boolean;
  workerEnableRemoteControl?: boolean;
  /** Seconds a warm shutdown waits for running tasks before it turns cold. */
  workerShutdownTimeout?: number | null;
  /** Largest message a producer sends or a worker accepts, in bytes. Default 10 MiB. */
  maxMessageSize?: number;
  timezone?: string;
  enableUtc?: boolean;
}

/** The compiled, validated configuration: every option resolved to its value. */
export interface Config {
  readonly broker: string;
  readonly backend: string | null;
  readonly brokerTransportOptions: Readonly<Record<string, unknown>>;
  readonly resultBackendTransportOptions: Readonly<Record<string, unknown>>;
  readonly brokerConnectionRetry: boolean;
  readonly brokerConnectionMaxRetries: number;
  readonly brokerConnectionTimeout: number;
  readonly resultExpires: number | null;
  readonly resultExtended: boolean;
  readonly taskSerializer: string;
  readonly acceptContent: readonly string[];
  readonly accept: AcceptPolicy;
  readonly taskCompression: string | null;
  readonly taskDefaultQueue: string;
  readonly taskDefaultExchange: string;
  readonly taskDefaultExchangeType: 'direct' | 'topic' | 'fanout';
  readonly taskDefaultRoutingKey: string;
  readonly taskDefaultPriority: number | null;
  readonly taskQueueMaxPriority: number | null;
  readonly taskDefaultDeliveryMode: 1 | 2;
  readonly taskQueues: readonly QueueSpec[];
  readonly taskRoutes: TaskRoutes | null;
  readonly taskCreateMissingQueues: boolean;
  readonly taskInheritParentPriority: boolean;
  readonly taskAcksLate: boolean;
  readonly taskAcksOnFailureOrTimeout: boolean;
  readonly taskRejectOnWorkerLost: boolean;
  readonly taskTrackStarted: boolean;
  readonly taskIgnoreResult: boolean;
  readonly taskStoreErrorsEvenIfIgnored: boolean;
  readonly taskTimeLimit: number | null;
  readonly taskSoftTimeLimit: number | null;
  readonly taskDefaultRateLimit: string | number | null;
  readonly taskAlwaysEager: boolean;
  readonly taskEagerPropagates: boolean;
  readonly taskStoreEagerResult: boolean;
  readonly taskPublishRetry: boolean;
  readonly taskPublishRetryPolicy: RetryPolicy;
  readonly taskSendSentEvent: boolean;
  readonly workerConcurrency: number | null;
  readonly workerPrefetchMultiplier: number;
  readonly workerPool: PoolName;
  readonly workerMaxTasksPerChild: number | null;
  readonly workerMaxMemoryPerChild: number | null;
  readonly workerDisableRateLimits: boolean;
  readonly workerDeduplicateSuccessfulTasks: boolean;
  readonly workerSendTaskEvents: boolean;
  readonly workerEnableRemoteControl: boolean;
  readonly workerShutdownTimeout: number | null;
  readonly maxMessageSize: number;
  readonly timezone: string;
  readonly enableUtc: boolean;
}

type Defaults = Omit<Config, 'broker' | 'accept' | 'taskDefaultExchange' | 'taskDefaultRoutingKey'>;

export const DEFAULTS: Defaults = {
  backend: null,
  brokerTransportOptions: {},
  resultBackendTransportOptions: {},
  brokerConnectionRetry: true,
  brokerConnectionMaxRetries: 100,
  brokerConnectionTimeout: 4,
  resultExpires: 86_400,
  resultExtended: false,
  taskSerializer: 'json',
  acceptContent: ['json'],
  taskCompression: null,
  taskDefaultQueue: 'celery',
  taskDefaultExchangeType: 'direct',
  taskDefaultPriority: null,
  taskQueueMaxPriority: null,
  taskDefaultDeliveryMode: 2,
  taskQueues: [],
  taskRoutes: null,
  taskCreateMissingQueues: true,
  taskInheritParentPriority: false,
  taskAcksLate: false,
  taskAcksOnFailureOrTimeout: true,
  taskRejectOnWorkerLost: false,
  taskTrackStarted: false,
  taskIgnoreResult: false,
  taskStoreErrorsEvenIfIgnored: false,
  taskTimeLimit: null,
  taskSoftTimeLimit: null,
  taskDefaultRateLimit: null,
  taskAlwaysEager: false,
  taskEagerPropagates: false,
  taskStoreEagerResult: false,
  taskPublishRetry: true,
  taskPublishRetryPolicy: defaultRetryPolicy,
  taskSendSentEvent: false,
  workerConcurrency: null,
  workerPrefetchMultiplier: 4,
  workerPool: 'async',
  workerMaxTasksPerChild: null,
  workerMaxMemoryPerChild: null,
  workerDisableRateLimits: false,
  workerDeduplicateSuccessfulTasks: false,
  workerSendTaskEvents: false,
  workerEnableRemoteControl: true,
  workerShutdownTimeout: null,
  maxMessageSize: 10 * 1024 * 1024,
  timezone: 'UTC',
  enableUtc: true,
};

/** Celery's snake_case names that are not the mechanical conversion of ours. */
const SNAKE_CASE_SPECIAL: Record<string, keyof CeleryOptions> = {
  broker_url: 'broker',
  result_backend: 'backend',
  result_backend_transport_options: 'resultBackendTransportOptions',
  broker_transport_options: 'brokerTransportOptions',
  accept_content: 'acceptContent',
  task_compression: 'taskCompression',
  worker_max_memory_per_child: 'workerMaxMemoryPerChild',
  timezone: 'timezone',
  enable_utc: 'enableUtc',
};

const KNOWN_KEYS: ReadonlySet<string> = new Set<string>([
  ...Object.keys(DEFAULTS),
  'broker',
  'taskDefaultExchange',
  'taskDefaultRoutingKey',
]);

function camelCase(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Maps every snake_case Celery name we understand to our option name, in one table. */
export const SNAKE_CASE: Readonly<Record<string, keyof CeleryOptions>> = (() => {
  const table: Record<string, keyof CeleryOptions> = { ...SNAKE_CASE_SPECIAL };
  for (const key of KNOWN_KEYS) {
    const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    table[snake] ??= key as keyof CeleryOptions;
  }
  return table;
})();

export interface NormalizeResult {
  options: CeleryOptions;
  /** Unknown keys, each with a suggestion where one is close. */
  warnings: string[];
}

/** Turns a mix of camelCase and Celery snake_case keys into CeleryOptions, warning about unknown ones. */
export function normalizeOptions(source: Readonly<Record<string, unknown>>): NormalizeResult {
  const options: Record<string, unknown> = {};
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(source)) {
    const snake = SNAKE_CASE[key.toLowerCase()];
    const name = snake ?? (KNOWN_KEYS.has(key) ? key : undefined);
    if (!name) {
      const candidates = [...KNOWN_KEYS, ...Object.keys(SNAKE_CASE)];
      warnings.push(
        `Unknown setting "${key}" ignored${didYouMean(key, candidates) || didYouMean(camelCase(key), candidates)}`,
      );
      continue;
    }
    options[name] = value;
  }
  return { options: options, warnings };
}

function fail(setting: string, value: unknown, expected: string): never {
  throw new ImproperlyConfigured(
    `Invalid value for ${setting}: ${JSON.stringify(value)}: expected ${expected}`,
  );
}

function check<T>(setting: string, value: unknown, ok: (v: unknown) => boolean, expected: string): T {
  if (!ok(value)) fail(setting, value, expected);
  return value as T;
}

const isBool = (v: unknown): boolean => typeof v === 'boolean';
const isPositiveInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v > 0;
const isNonNegInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isPositiveNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isNonNegNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isString = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const orNull =
  (f: (v: unknown) => boolean) =>
  (v: unknown): boolean =>
    v === null || f(v);

const RATE_RE = /^\d+(\.\d+)?(\/[smh])?$/;

/** Validates every option and fills in defaults. Throws ImproperlyConfigured naming the first bad setting. */
export function compileConfig(input: CeleryOptions, env: NodeJS.ProcessEnv = process.env): Config {
  const o = { ...DEFAULTS, ...stripUndefined(input) } as Defaults & CeleryOptions;
  const broker = env.CELERIAC_BROKER_URL || input.broker;
  if (!broker) {
    throw new ImproperlyConfigured(
      `No broker is configured: set broker (broker_url, or the CELERIAC_BROKER_URL environment variable), for example ${URL_EXAMPLES}`,
    );
  }
  urlScheme(broker, 'broker');
  const backend = env.CELERIAC_RESULT_BACKEND || (o.backend ?? null);
  if (backend !== null && backend !== 'disabled') urlScheme(backend, 'backend');

  const serializer = check<string>(
    'taskSerializer',
    o.taskSerializer,
    (v) => SERIALIZER_NAMES.includes(v as string),
    `one of ${SERIALIZER_NAMES.join(', ')}`,
  );
  const acceptContent = check<string[]>(
    'acceptContent',
    o.acceptContent,
    (v) => Array.isArray(v) && v.length > 0,
    'a non-empty list such as ["json"]',
  );
  const accept = new AcceptPolicy(acceptContent);
  if (!accept.accepts(serializer)) {
    throw new ImproperlyConfigured(
      `taskSerializer "${serializer}" is not in acceptContent ${JSON.stringify(acceptContent)}: workers would refuse their own messages; add it`,
    );
  }
  const compression = o.taskCompression ?? null;
  if (compression !== null && !isCompressionName(compression))
    fail('taskCompression', compression, `null or one of ${COMPRESSION_NAMES.join(', ')}`);
  const rawMode: unknown = o.taskDefaultDeliveryMode;
  const deliveryMode = rawMode === 'transient' ? 1 : rawMode === 'persistent' ? 2 : rawMode;
  check(
    'taskDefaultDeliveryMode',
    deliveryMode,
    (v) => v === 1 || v === 2,
    '1 (transient), 2 (persistent), "transient" or "persistent"',
  );
  const defaultQueue = check<string>('taskDefaultQueue', o.taskDefaultQueue, isString, 'a queue name');
  const rate = o.taskDefaultRateLimit;
  if (rate !== null && !(typeof rate === 'number' ? rate >= 0 : RATE_RE.test(rate))) {
    fail('taskDefaultRateLimit', rate, 'a rate such as "10/s", "100/m", "5/h" or a number per second');
  }
  // Celery writes this policy with snake_case keys (max_retries, interval_start, ...); accept both.
  const rawPolicy = Object.fromEntries(
    Object.entries(o.taskPublishRetryPolicy ?? {}).map(([key, value]) => [camelCase(key), value as unknown]),
  );
  const policy = { ...defaultRetryPolicy, ...rawPolicy };
  for (const [key, value] of Object.entries(policy))
    check(`taskPublishRetryPolicy.${key}`, value, isNonNegNumber, 'a non-negative number');

  return Object.freeze({
    broker,
    backend,
    brokerTransportOptions: check<Record<string, unknown>>(
      'brokerTransportOptions',
      o.brokerTransportOptions,
      isObject,
      'an object',
    ),
    resultBackendTransportOptions: check<Record<string, unknown>>(
      'resultBackendTransportOptions',
      o.resultBackendTransportOptions,
      isObject,
      'an object',
    ),
    brokerConnectionRetry: check<boolean>(
      'brokerConnectionRetry',
      o.brokerConnectionRetry,
      isBool,
      'true or false',
    ),
    brokerConnectionMaxRetries: check<number>(
      'brokerConnectionMaxRetries',
      o.brokerConnectionMaxRetries,
      isNonNegInt,
      'a non-negative integer',
    ),
    brokerConnectionTimeout: check<number>(
      'brokerConnectionTimeout',
      o.brokerConnectionTimeout,
      isPositiveNumber,
      'a positive number of seconds',
    ),
    resultExpires: check<number | null>(
      'resultExpires',
      o.resultExpires,
      orNull(isPositiveNumber),
      'a positive number of seconds or null',
    ),
    resultExtended: check<boolean>('resultExtended', o.resultExtended, isBool, 'true or false'),
    taskSerializer: serializer,
    acceptContent,
    accept,
    taskCompression: compression,
    taskDefaultQueue: defaultQueue,
    taskDefaultExchange: check<string>(
      'taskDefaultExchange',
      o.taskDefaultExchange ?? defaultQueue,
      (v) => typeof v === 'string',
      'an exchange name',
    ),
    taskDefaultExchangeType: check<'direct' | 'topic' | 'fanout'>(
      'taskDefaultExchangeType',
      o.taskDefaultExchangeType,
      (v) => ['direct', 'topic', 'fanout'].includes(v as string),
      'direct, topic or fanout',
    ),
    taskDefaultRoutingKey: check<string>(
      'taskDefaultRoutingKey',
      o.taskDefaultRoutingKey ?? defaultQueue,
      (v) => typeof v === 'string',
      'a routing key',
    ),
    taskDefaultPriority: check<number | null>(
      'taskDefaultPriority',
      o.taskDefaultPriority,
      orNull((v) => isNonNegInt(v) && (v as number) <= 255),
      'null or an integer 0-255',
    ),
    taskQueueMaxPriority: check<number | null>(
      'taskQueueMaxPriority',
      o.taskQueueMaxPriority,
      orNull((v) => isPositiveInt(v) && (v as number) <= 255),
      'null or an integer 1-255',
    ),
    taskDefaultDeliveryMode: deliveryMode as 1 | 2,
    taskQueues: check<QueueSpec[]>(
      'taskQueues',
      o.taskQueues ?? [],
      (v) => Array.isArray(v) && v.every((q) => isObject(q) && isString((q as QueueSpec).name)),
      'a list of queues, each with a name',
    ),
    taskRoutes: o.taskRoutes ?? null,
    taskCreateMissingQueues: check<boolean>(
      'taskCreateMissingQueues',
      o.taskCreateMissingQueues,
      isBool,
      'true or false',
    ),
    taskInheritParentPriority: check<boolean>(
      'taskInheritParentPriority',
      o.taskInheritParentPriority,
      isBool,
      'true or false',
    ),
    taskAcksLate: check<boolean>('taskAcksLate', o.taskAcksLate, isBool, 'true or false'),
    taskAcksOnFailureOrTimeout: check<boolean>(
      'taskAcksOnFailureOrTimeout',
      o.taskAcksOnFailureOrTimeout,
      isBool,
      'true or false',
    ),
    taskRejectOnWorkerLost: check<boolean>(
      'taskRejectOnWorkerLost',
      o.taskRejectOnWorkerLost,
      isBool,
      'true or false',
    ),
    taskTrackStarted: check<boolean>('taskTrackStarted', o.taskTrackStarted, isBool, 'true or false'),
    taskIgnoreResult: check<boolean>('taskIgnoreResult', o.taskIgnoreResult, isBool, 'true or false'),
    taskStoreErrorsEvenIfIgnored: check<boolean>(
      'taskStoreErrorsEvenIfIgnored',
      o.taskStoreErrorsEvenIfIgnored,
      isBool,
      'true or false',
    ),
    taskTimeLimit: check<number | null>(
      'taskTimeLimit',
      o.taskTimeLimit,
      orNull(isPositiveNumber),
      'null or a positive number of seconds',
    ),
    taskSoftTimeLimit: check<number | null>(
      'taskSoftTimeLimit',
      o.taskSoftTimeLimit,
      orNull(isPositiveNumber),
      'null or a positive number of seconds',
    ),
    taskDefaultRateLimit: rate,
    taskAlwaysEager: check<boolean>('taskAlwaysEager', o.taskAlwaysEager, isBool, 'true or false'),
    taskEagerPropagates: check<boolean>(
      'taskEagerPropagates',
      o.taskEagerPropagates,
      isBool,
      'true or false',
    ),
    taskStoreEagerResult: check<boolean>(
      'taskStoreEagerResult',
      o.taskStoreEagerResult,
      isBool,
      'true or false',
    ),
    taskPublishRetry: check<boolean>('taskPublishRetry', o.taskPublishRetry, isBool, 'true or false'),
    taskPublishRetryPolicy: policy,
    taskSendSentEvent: check<boolean>('taskSendSentEvent', o.taskSendSentEvent, isBool, 'true or false'),
    workerConcurrency: check<number | null>(
      'workerConcurrency',
      o.workerConcurrency,
      orNull(isPositiveInt),
      'null or a positive integer',
    ),
    workerPrefetchMultiplier: check<number>(
      'workerPrefetchMultiplier',
      o.workerPrefetchMultiplier,
      isNonNegInt,
      'a non-negative integer (0 = unlimited)',
    ),
    workerPool: check<PoolName>(
      'workerPool',
      o.workerPool,
      (v) => ['async', 'solo', 'threads', 'prefork'].includes(v as string),
      'async, solo, threads or prefork',
    ),
    workerMaxTasksPerChild: check<number | null>(
      'workerMaxTasksPerChild',
      o.workerMaxTasksPerChild,
      orNull(isPositiveInt),
      'null or a positive integer',
    ),
    workerMaxMemoryPerChild: check<number | null>(
      'workerMaxMemoryPerChild',
      o.workerMaxMemoryPerChild,
      orNull(isPositiveInt),
      'null or a positive number of KiB',
    ),
    workerDisableRateLimits: check<boolean>(
      'workerDisableRateLimits',
      o.workerDisableRateLimits,
      isBool,
      'true or false',
    ),
    workerDeduplicateSuccessfulTasks: check<boolean>(
      'workerDeduplicateSuccessfulTasks',
      o.workerDeduplicateSuccessfulTasks,
      isBool,
      'true or false',
    ),
    workerSendTaskEvents: check<boolean>(
      'workerSendTaskEvents',
      o.workerSendTaskEvents,
      isBool,
      'true or false',
    ),
    workerEnableRemoteControl: check<boolean>(
      'workerEnableRemoteControl',
      o.workerEnableRemoteControl,
      isBool,
      'true or false',
    ),
    workerShutdownTimeout: check<number | null>(
      'workerShutdownTimeout',
      o.workerShutdownTimeout,
      orNull(isPositiveNumber),
      'null or a positive number of seconds',
    ),
    maxMessageSize: check<number>(
      'maxMessageSize',
      o.maxMessageSize,
      isPositiveInt,
      'a positive number of bytes',
    ),
    timezone: check<string>(
      'timezone',
      o.timezone,
      isString,
      'an IANA time zone name such as "UTC" or "Europe/Paris"',
    ),
    enableUtc: check<boolean>('enableUtc', o.enableUtc, isBool, 'true or false'),
  });
}

function stripUndefined<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<T>;
}
