/**
 * Every setting, once: one row each with our camelCase name (the key), Celery's snake_case name, the default, the
 * validator, a line of documentation, the unit, and the files that read it. `CeleryOptions`, the compiled `Config`,
 * the snake_case mapping and the tables of docs/configuration.md are all derived from these rows (config.ts,
 * settings-docs.ts); settings.test.ts checks that every row's readers really read it.
 *
 * Grouped as docs/configuration.md groups them.
 */
import { defaultRetryPolicy, type RetryPolicy } from '../lifecycle/backoff.js';
import {
  acceptList,
  backendUrl,
  bool,
  brokerUrl,
  compressionName,
  digestName,
  deliveryMode,
  exchangeType,
  intBetween,
  nonEmptyString,
  nonNegativeInt,
  nonNegativeNumber,
  oneOf,
  orNull,
  pemPath,
  plainObject,
  positiveInt,
  positiveNumber,
  queueSpecs,
  rateLimit,
  retryPolicy,
  serializerName,
  string,
  taskRoutes,
  timeZoneName,
  tlsSetting,
  type Validator,
} from './setting-validators.js';
import type { PeriodicTaskEntry } from './periodic.js';

export const POOL_NAMES = ['async', 'solo', 'threads', 'prefork'] as const;
export type PoolName = (typeof POOL_NAMES)[number];

interface Row<In, Out> {
  /** Celery's name for it (snake_case), accepted wherever settings are given. */
  readonly celery: string;
  readonly validate: Validator<In, Out>;
  /** One line for docs/configuration.md. */
  readonly doc: string;
  readonly unit?: 'seconds' | 'bytes' | 'KiB';
  /** The src files that read `conf.<name>` (or `.<name>` of a Config). */
  readonly readBy: readonly string[];
  /** When readers read a value the compiled Config derives from this one (`accept` from `acceptContent`). */
  readonly readAs?: string;
  /**
   * Not implemented yet: only the default is accepted, anything else fails naming the setting, until the named
   * issue lands its readers (and removes this marker).
   */
  readonly pending?: 'issue 13' | 'issue 14';
  /** A Celeriac setting that Celery 5.2 does not have. */
  readonly celeriacOnly?: true;
  /** How docs show the default, when the value alone does not say it. */
  readonly shownDefault?: string;
}

/** A row's default: a value, or the value of an earlier row (Celery's "taken from the queue"). */
export type Setting<In, Out> = Row<In, Out> &
  ({ readonly default: NoInfer<Out> } | { readonly sameAs: string });

function setting<In, Out>(row: Setting<In, Out>): Setting<In, Out> {
  return row;
}

const seconds = 'seconds' as const;

const BROKER = {
  broker: setting({
    celery: 'broker_url',
    default: null,
    validate: brokerUrl,
    shownDefault: 'none (required)',
    doc: 'broker URL: `sqlite://celeriac.db`, `redis://localhost:6379/0`, `amqp://guest@localhost//`, `memory://`',
    readBy: ['src/app/celery.ts'],
  }),
  brokerTransportOptions: setting<Record<string, unknown>, Readonly<Record<string, unknown>>>({
    celery: 'broker_transport_options',
    default: {},
    validate: plainObject,
    doc: 'driver options, e.g. `visibilityTimeout`, `pollingInterval` (SQLite), `global_keyprefix` (Redis)',
    readBy: ['src/app/celery.ts'],
  }),
  brokerConnectionRetry: setting({
    celery: 'broker_connection_retry',
    default: true,
    validate: bool,
    doc: 'retry connecting at start-up',
    readBy: ['src/app/celery.ts'],
  }),
  brokerConnectionMaxRetries: setting({
    celery: 'broker_connection_max_retries',
    default: 100,
    validate: nonNegativeInt(),
    doc: 'connection attempts before giving up',
    readBy: ['src/app/celery.ts'],
  }),
  brokerConnectionTimeout: setting({
    celery: 'broker_connection_timeout',
    default: 4,
    validate: positiveNumber('a positive number of seconds'),
    unit: seconds,
    doc: 'time per connection attempt',
    readBy: ['src/app/celery.ts'],
  }),
};

const RESULTS = {
  backend: setting({
    celery: 'result_backend',
    default: null,
    validate: backendUrl,
    shownDefault: 'null (results disabled)',
    doc: 'result backend URL: `sqlite://...`, `redis://...`, `rpc://`, `db+postgresql://...`, `memory://`',
    readBy: ['src/app/celery.ts'],
  }),
  resultBackendTransportOptions: setting<Record<string, unknown>, Readonly<Record<string, unknown>>>({
    celery: 'result_backend_transport_options',
    default: {},
    validate: plainObject,
    doc: 'backend driver options',
    readBy: ['src/app/celery.ts'],
  }),
  resultExpires: setting({
    celery: 'result_expires',
    default: 86_400,
    validate: orNull(positiveNumber(), 'a positive number of seconds or null'),
    unit: seconds,
    doc: 'how long results are kept; null keeps them',
    readBy: ['src/app/celery.ts'],
  }),
  resultExtended: setting({
    celery: 'result_extended',
    default: false,
    validate: bool,
    doc: 'also store name, args, kwargs, worker, retries, queue',
    readBy: ['src/worker/worker-io.ts'],
  }),
  databaseTableNames: setting<Record<string, unknown> | null, Readonly<Record<string, unknown>> | null>({
    celery: 'database_table_names',
    default: null,
    validate: orNull(plainObject, 'null or an object {task, group}'),
    doc: 'database backend: `{task, group}` table names (default `celery_taskmeta`, `celery_tasksetmeta`)',
    readBy: ['src/app/celery.ts'],
  }),
  databaseTableSchemas: setting<Record<string, unknown> | null, Readonly<Record<string, unknown>> | null>({
    celery: 'database_table_schemas',
    default: null,
    validate: orNull(plainObject, 'null or an object {task, group}'),
    doc: 'database backend: `{task, group}` schemas of those tables (PostgreSQL, MySQL; no meaning on SQLite)',
    readBy: ['src/app/celery.ts'],
  }),
  databaseEngineOptions: setting<Record<string, unknown> | null, Readonly<Record<string, unknown>> | null>({
    celery: 'database_engine_options',
    default: null,
    validate: orNull(plainObject, 'null or an object'),
    doc:
      "database backend: SQLAlchemy's `pool_size` (5) + `max_overflow` (10) = pool size, `pool_timeout` (30 s), " +
      '`pool_recycle`, `connect_args` (given to `pg`/`mysql2`); other keys are ignored',
    readBy: ['src/app/celery.ts'],
  }),
  databaseShortLivedSessions: setting({
    celery: 'database_short_lived_sessions',
    default: false,
    validate: bool,
    doc: 'database backend: close connections when idle instead of keeping them pooled',
    readBy: ['src/app/celery.ts'],
  }),
};

const MESSAGES = {
  taskSerializer: setting({
    celery: 'task_serializer',
    default: 'json',
    validate: serializerName,
    doc:
      '`json`, `msgpack`, `auth` (signed, after `app.setupSecurity()`: [security](security.md)), or one registered ' +
      'with `app.registerSerializer()` (docs/extending.md)',
    readBy: ['src/app/publish.ts'],
  }),
  acceptContent: setting({
    celery: 'accept_content',
    default: ['json'],
    validate: acceptList,
    doc: 'serializers (names or content types) a worker accepts; pickle and YAML are refused',
    readBy: ['src/worker/consumer.ts'],
    readAs: 'accept',
  }),
  taskCompression: setting({
    celery: 'task_compression',
    default: null,
    validate: compressionName,
    doc: '`zlib` (alias `gzip`) or `brotli`',
    readBy: ['src/app/publish.ts'],
  }),
  maxMessageSize: setting({
    celery: 'max_message_size',
    default: 10 * 1024 * 1024,
    validate: positiveInt('a positive number of bytes'),
    unit: 'bytes',
    celeriacOnly: true,
    doc:
      'largest message body sent or accepted (10 MiB), also after decompression; a producer refuses a bigger one ' +
      '(EncodeError), a worker rejects it (`message-too-large`, FAILURE stored)',
    readBy: ['src/app/celery.ts', 'src/worker/consumer.ts'],
  }),
};

const SECURITY = {
  resultAcceptContent: setting({
    celery: 'result_accept_content',
    default: null,
    validate: orNull(acceptList, 'null or a non-empty list such as ["json"]'),
    shownDefault: 'null (= `acceptContent`)',
    doc:
      'serializers results are read with; the memory, SQLite and Redis backends store JSON, so reading one back ' +
      'needs `json` on the list; `rpc://` checks each reply ([security](security.md))',
    readBy: ['src/app/celery.ts'],
    readAs: 'resultAccept',
  }),
  securityKey: setting({
    celery: 'security_key',
    default: null,
    validate: pemPath,
    doc: 'path of the PEM RSA private key messages are signed with ([security](security.md))',
    readBy: ['src/app/security.ts'],
  }),
  securityCertificate: setting({
    celery: 'security_certificate',
    default: null,
    validate: pemPath,
    doc: "path of that key's PEM certificate",
    readBy: ['src/app/security.ts'],
  }),
  securityCertStore: setting({
    celery: 'security_cert_store',
    default: null,
    validate: pemPath,
    doc: 'glob (or directory) of the PEM certificates whose signatures are trusted, e.g. `/etc/ssl/celery/*.pem`',
    readBy: ['src/app/security.ts'],
  }),
  securityDigest: setting({
    celery: 'security_digest',
    default: 'sha256',
    validate: digestName,
    doc: 'digest of the RSA-PSS signatures: `sha224`, `sha256`, `sha384`, `sha512`, `sha3_256`, ... (not md5 or sha1)',
    readBy: ['src/app/security.ts'],
  }),
  brokerUseSsl: setting({
    celery: 'broker_use_ssl',
    default: null,
    validate: tlsSetting,
    doc:
      "TLS to the broker: `true`, or `{ ca, cert, key, rejectUnauthorized }` (PEM text or file paths; kombu's " +
      '`ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_cert_reqs` also accepted); turns TLS on for `amqp://` ' +
      'and `redis://` URLs too',
    readBy: ['src/app/celery.ts'],
  }),
  redisBackendUseSsl: setting({
    celery: 'redis_backend_use_ssl',
    default: null,
    validate: tlsSetting,
    doc: 'TLS to the Redis result backend, as `brokerUseSsl`',
    readBy: ['src/app/celery.ts'],
  }),
};

const ROUTING = {
  taskDefaultQueue: setting({
    celery: 'task_default_queue',
    default: 'celery',
    validate: nonEmptyString('a queue name'),
    doc: 'queue of tasks with no route, and the queue a worker consumes by default',
    readBy: ['src/app/routing.ts', 'src/worker/options.ts'],
  }),
  taskDefaultExchange: setting({
    celery: 'task_default_exchange',
    sameAs: 'taskDefaultQueue',
    validate: string('an exchange name'),
    doc: 'exchange of the default queue, and of `taskQueues` entries that name none',
    readBy: ['src/app/routing.ts'],
  }),
  taskDefaultExchangeType: setting({
    celery: 'task_default_exchange_type',
    default: 'direct',
    validate: exchangeType,
    doc: 'type of that exchange; with `direct`, tasks are published through the default exchange `""` with the queue name as routing key, as Celery does',
    readBy: ['src/app/routing.ts'],
  }),
  taskDefaultRoutingKey: setting({
    celery: 'task_default_routing_key',
    sameAs: 'taskDefaultQueue',
    validate: string('a routing key'),
    doc: "binding key of the default queue, and the routing key of tasks sent to it when the exchange type isn't `direct`",
    readBy: ['src/app/routing.ts'],
  }),
  taskDefaultPriority: setting({
    celery: 'task_default_priority',
    default: null,
    validate: orNull(intBetween(0, 255, 'an integer 0-255')),
    doc: 'priority of tasks sent without one',
    readBy: ['src/app/routing.ts'],
  }),
  taskQueueMaxPriority: setting({
    celery: 'task_queue_max_priority',
    default: null,
    validate: orNull(intBetween(1, 255, 'an integer 1-255')),
    doc: '`x-max-priority` of queues created on demand',
    readBy: ['src/app/routing.ts'],
  }),
  taskDefaultDeliveryMode: setting({
    celery: 'task_default_delivery_mode',
    default: 2,
    validate: deliveryMode,
    doc: '`1`/`"transient"` or `2`/`"persistent"`',
    readBy: ['src/app/publish.ts'],
  }),
  taskQueues: setting({
    celery: 'task_queues',
    default: [],
    validate: queueSpecs,
    doc: 'declared queues: `{ name, exchange, exchangeType, routingKey, maxPriority, arguments }`; without an exchange a queue is bound to `taskDefaultExchange`, with its name as binding key',
    readBy: ['src/app/routing.ts'],
  }),
  taskRoutes: setting({
    celery: 'task_routes',
    default: null,
    validate: taskRoutes,
    doc: "`{ 'tasks.add': 'math', 'feed.*': { queue: 'feeds' } }`, router functions, `[RegExp, target]` pairs, or a list of them",
    readBy: ['src/app/routing.ts'],
  }),
  taskCreateMissingQueues: setting({
    celery: 'task_create_missing_queues',
    default: true,
    validate: bool,
    doc: 'create queues named by routes on demand',
    readBy: ['src/app/routing.ts'],
  }),
  taskInheritParentPriority: setting({
    celery: 'task_inherit_parent_priority',
    default: false,
    validate: bool,
    doc: 'tasks sent from a task inherit its priority',
    readBy: ['src/app/publish.ts'],
  }),
};

const PUBLISHING = {
  taskPublishRetry: setting({
    celery: 'task_publish_retry',
    default: true,
    validate: bool,
    doc: 'retry publishing on connection errors',
    readBy: ['src/app/celery.ts'],
  }),
  taskPublishRetryPolicy: setting<Partial<RetryPolicy>, RetryPolicy>({
    celery: 'task_publish_retry_policy',
    default: defaultRetryPolicy,
    validate: retryPolicy,
    shownDefault: '`{maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 1}`',
    doc: 'intervals in seconds; snake_case keys accepted',
    readBy: ['src/app/celery.ts'],
  }),
  taskSendSentEvent: setting({
    celery: 'task_send_sent_event',
    default: false,
    validate: bool,
    doc: 'send `task-sent` events from the client, after each task it publishes',
    readBy: ['src/app/celery.ts'],
  }),
};

const EXECUTION = {
  taskAcksLate: setting({
    celery: 'task_acks_late',
    default: false,
    validate: bool,
    doc: 'acknowledge after the task ran, not when it started',
    readBy: ['src/worker/request.ts'],
  }),
  taskAcksOnFailureOrTimeout: setting({
    celery: 'task_acks_on_failure_or_timeout',
    default: true,
    validate: bool,
    doc: 'with acksLate, acknowledge failed tasks too',
    readBy: ['src/worker/request.ts'],
  }),
  taskRejectOnWorkerLost: setting({
    celery: 'task_reject_on_worker_lost',
    default: false,
    validate: bool,
    doc: 'with acksLate, requeue a task whose process died',
    readBy: ['src/worker/request.ts'],
  }),
  taskTrackStarted: setting({
    celery: 'task_track_started',
    default: false,
    validate: bool,
    doc: 'store STARTED with `{pid, hostname}`',
    readBy: ['src/worker/request.ts'],
  }),
  taskIgnoreResult: setting({
    celery: 'task_ignore_result',
    default: false,
    validate: bool,
    doc: 'store no results',
    readBy: ['src/worker/request.ts', 'src/app/publish.ts', 'src/app/eager.ts'],
  }),
  taskStoreErrorsEvenIfIgnored: setting({
    celery: 'task_store_errors_even_if_ignored',
    default: false,
    validate: bool,
    doc: 'store failures of tasks that ignore results',
    readBy: ['src/worker/request.ts', 'src/app/eager.ts'],
  }),
  taskTimeLimit: setting({
    celery: 'task_time_limit',
    default: null,
    validate: orNull(positiveNumber('a positive number of seconds')),
    unit: seconds,
    doc: 'hard time limit',
    readBy: ['src/worker/request.ts'],
  }),
  taskSoftTimeLimit: setting({
    celery: 'task_soft_time_limit',
    default: null,
    validate: orNull(positiveNumber('a positive number of seconds')),
    unit: seconds,
    doc: "soft time limit (aborts the task's AbortSignal)",
    readBy: ['src/worker/request.ts'],
  }),
  taskDefaultRateLimit: setting({
    celery: 'task_default_rate_limit',
    default: null,
    validate: rateLimit,
    doc: '`"10/s"`, `"100/m"`, `"5/h"` or tasks per second',
    readBy: ['src/worker/state.ts'],
  }),
};

const EAGER = {
  taskAlwaysEager: setting({
    celery: 'task_always_eager',
    default: false,
    validate: bool,
    doc: 'run tasks in the caller, without a broker',
    readBy: ['src/app/task.ts'],
  }),
  taskEagerPropagates: setting({
    celery: 'task_eager_propagates',
    default: false,
    validate: bool,
    doc: 'eager failures throw',
    readBy: ['src/app/eager.ts'],
  }),
  taskStoreEagerResult: setting({
    celery: 'task_store_eager_result',
    default: false,
    validate: bool,
    doc: 'eager runs store their result',
    readBy: ['src/app/eager.ts'],
  }),
};

const WORKER = {
  workerConcurrency: setting({
    celery: 'worker_concurrency',
    default: null,
    validate: orNull(positiveInt()),
    shownDefault: 'null (50 for async, CPU count for threads/prefork, 1 for solo)',
    doc: 'tasks run at once',
    readBy: ['src/worker/options.ts'],
  }),
  workerPrefetchMultiplier: setting({
    celery: 'worker_prefetch_multiplier',
    default: 4,
    validate: nonNegativeInt('a non-negative integer (0 = unlimited)'),
    doc: 'messages reserved per concurrency slot; 0 = unlimited',
    readBy: ['src/worker/options.ts'],
  }),
  workerPool: setting({
    celery: 'worker_pool',
    default: 'async',
    validate: oneOf(POOL_NAMES),
    doc: '`async`, `solo`, `threads`, `prefork`',
    readBy: ['src/worker/options.ts'],
  }),
  workerMaxTasksPerChild: setting({
    celery: 'worker_max_tasks_per_child',
    default: null,
    validate: orNull(positiveInt()),
    doc: 'recycle a pool child after this many tasks',
    readBy: ['src/worker/options.ts'],
  }),
  workerMaxMemoryPerChild: setting({
    celery: 'worker_max_memory_per_child',
    default: null,
    validate: orNull(positiveInt(), 'null or a positive number of KiB'),
    unit: 'KiB',
    doc: 'recycle a pool child past this much resident memory',
    readBy: ['src/worker/options.ts'],
  }),
  workerDisableRateLimits: setting({
    celery: 'worker_disable_rate_limits',
    default: false,
    validate: bool,
    doc: 'ignore every rate limit',
    readBy: ['src/worker/consumer.ts'],
  }),
  workerDeduplicateSuccessfulTasks: setting({
    celery: 'worker_deduplicate_successful_tasks',
    default: false,
    validate: bool,
    doc: 'with acksLate, skip redelivered tasks already SUCCESS',
    readBy: ['src/worker/executor.ts'],
  }),
  workerSendTaskEvents: setting({
    celery: 'worker_send_task_events',
    default: false,
    validate: bool,
    doc: 'send task events (`-E`)',
    readBy: ['src/worker/worker.ts'],
  }),
  workerEnableRemoteControl: setting({
    celery: 'worker_enable_remote_control',
    default: true,
    validate: bool,
    doc: 'answer remote control (`inspect`, `control`, revokes) through the `celery.pidbox` mailbox',
    readBy: ['src/worker/worker.ts'],
  }),
  workerShutdownTimeout: setting({
    celery: 'worker_shutdown_timeout',
    default: null,
    validate: orNull(positiveNumber('a positive number of seconds')),
    unit: seconds,
    celeriacOnly: true,
    doc: 'how long a warm shutdown waits for running tasks before turning cold; null waits for ever',
    readBy: ['src/worker/options.ts'],
  }),
};

const TIME = {
  timezone: setting({
    celery: 'timezone',
    default: null,
    validate: orNull(timeZoneName),
    shownDefault: 'none (UTC)',
    doc: "IANA zone crontabs are read in; none: UTC, or the system's zone when enableUtc is off (Celery's `app.timezone`); beat resets its state when it changes",
    readBy: ['src/app/celery.ts'],
  }),
  enableUtc: setting({
    celery: 'enable_utc',
    default: true,
    validate: bool,
    doc: "without timezone: UTC when on, the system's zone when off; beat resets its state when it changes",
    readBy: ['src/app/celery.ts', 'src/beat/beat.ts'],
  }),
};

const BEAT = {
  beatSchedule: setting<
    Readonly<Record<string, PeriodicTaskEntry>>,
    Readonly<Record<string, PeriodicTaskEntry>>
  >({
    celery: 'beat_schedule',
    default: {},
    validate: plainObject as Validator<Readonly<Record<string, PeriodicTaskEntry>>>,
    doc: 'periodic tasks by entry name: `{ task, schedule, args, kwargs, options, relative, catchUp, catchUpLimit, catchUpGrace, external }`, checked when beat loads them (docs/periodic-tasks.md)',
    readBy: ['src/beat/entries.ts'],
  }),
  beatMaxLoopInterval: setting({
    celery: 'beat_max_loop_interval',
    default: 300,
    validate: nonNegativeNumber('a non-negative number of seconds (0 means 300)'),
    unit: seconds,
    doc: 'most seconds beat sleeps between two looks at the schedule (`--max-interval`); 0 means 300, as Celery',
    readBy: ['src/beat/beat.ts'],
  }),
  beatScheduleFilename: setting({
    celery: 'beat_schedule_filename',
    default: 'celerybeat-schedule.json',
    validate: nonEmptyString('a file path such as "celerybeat-schedule.json"'),
    doc: "beat's JSON state file with the file store (`-s`); JSON, not Celery's shelve, hence the `.json`",
    readBy: ['src/beat/beat.ts'],
  }),
  beatStore: setting({
    celery: 'beat_store',
    default: 'file' as 'file' | 'shared',
    validate: oneOf(['file', 'shared'] as const),
    celeriacOnly: true,
    doc: "where beat keeps its state: `file` (beatScheduleFilename) or `shared` (the broker's Redis or SQLite, else the result backend's)",
    readBy: ['src/beat/beat.ts'],
  }),
  beatLeaseTimeout: setting({
    celery: 'beat_lease_timeout',
    default: 10,
    validate: positiveNumber('a positive number of seconds'),
    unit: seconds,
    celeriacOnly: true,
    doc: "how long a leading beat's lease lasts without renewal (renewed every third of it): how soon a standby beat takes over after a crash",
    readBy: ['src/beat/beat.ts', 'src/beat/stores/shared.ts'],
  }),
};

/** The settings in documentation order, by group title. */
export const SETTING_GROUPS = [
  ['Broker', BROKER],
  ['Results', RESULTS],
  ['Serialization and message size', MESSAGES],
  ['Security', SECURITY],
  ['Routing', ROUTING],
  ['Publishing', PUBLISHING],
  ['Running tasks', EXECUTION],
  ['Eager mode', EAGER],
  ['Worker', WORKER],
  ['Time', TIME],
  ['Periodic tasks (beat)', BEAT],
] as const;

/** Every setting, by its camelCase name. */
export const SETTINGS = {
  ...BROKER,
  ...RESULTS,
  ...MESSAGES,
  ...SECURITY,
  ...ROUTING,
  ...PUBLISHING,
  ...EXECUTION,
  ...EAGER,
  ...WORKER,
  ...TIME,
  ...BEAT,
};

export type SettingName = keyof typeof SETTINGS;
/** Any row, for code that walks the table. */
export type AnySetting = Setting<unknown, unknown>;
