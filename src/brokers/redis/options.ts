/**
 * The Redis broker's transport options (`broker_transport_options`), under kombu's names
 * (`kombu/transport/redis.py:683`) or their camelCase forms, validated once with errors naming the option.
 */
import { didYouMean, ImproperlyConfigured } from '../../errors.js';
import type { RedisConnectionSettings } from '../../transport/redis/client.js';

export type QueueOrderStrategy = 'round_robin' | 'sorted' | 'priority';

export interface RedisBrokerOptions {
  /** Seconds an unacknowledged delivery may go without a lease renewal before any worker restores it. */
  visibilityTimeout: number;
  unackedKey: string;
  unackedIndexKey: string;
  unackedMutexKey: string;
  /** Seconds the restore mutex is held at most. */
  unackedMutexExpire: number;
  /** Most stale deliveries restored per sweep; null = all. */
  unackedRestoreLimit: number | null;
  /** kombu's separator between a queue name and its priority bucket, and inside binding entries. */
  sep: string;
  /** `/{db}.` by default; a string replaces it; false disables it (kombu 3 compatibility). */
  fanoutPrefix: boolean | string;
  fanoutPatterns: boolean;
  /** Prepended to every key and channel. */
  globalKeyprefix: string;
  queueOrderStrategy: QueueOrderStrategy;
  prioritySteps: number[];
  /** Seconds between lease renewals of held deliveries (default a quarter of the visibility timeout, at most 60). */
  leaseRenewInterval: number;
  /** Seconds between sweeps for stale deliveries to restore (default half the visibility timeout, 1 to 60). */
  restoreInterval: number;
  /** Most messages moved by one fetch. */
  fetchBatchSize: number;
  /** Seconds a blocking wait for new messages lasts before it is re-armed. */
  waitTimeout: number;
  /** Dead letters kept per queue (oldest dropped first). */
  deadLetterMax: number;
  /** Bytes of dead letters kept per queue (oldest dropped first; the newest is always kept). */
  deadLetterMaxBytes: number;
  /** Seconds an ack, reject or give-back waits for Redis to come back before it gives up. */
  settleRetryTimeout: number;
  connection: RedisConnectionSettings;
}

type Reader = (kombu: string, camel: string) => unknown;

const KNOWN = [
  'visibility_timeout',
  'unacked_key',
  'unacked_index_key',
  'unacked_mutex_key',
  'unacked_mutex_expire',
  'unacked_restore_limit',
  'sep',
  'fanout_prefix',
  'fanout_patterns',
  'global_keyprefix',
  'queue_order_strategy',
  'priority_steps',
  'lease_renew_interval',
  'restore_interval',
  'fetch_batch_size',
  'wait_timeout',
  'dead_letter_max',
  'settle_retry_timeout',
  'socket_timeout',
  'socket_connect_timeout',
  'socket_keepalive',
  'health_check_interval',
  'client_name',
  'master_name',
  'sentinel_kwargs',
  'tls',
  // Accepted for compatibility with kombu settings and ignored: ioredis manages its own connections.
  'ack_emulation',
  'max_connections',
  'retry_on_timeout',
  'socket_keepalive_options',
  'min_other_sentinels',
  'polling_interval',
];

function camel(snake: string): string {
  return snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function bad(name: string, value: unknown, expected: string): never {
  throw new ImproperlyConfigured(
    `Invalid broker transport option ${name}: ${JSON.stringify(value)}: expected ${expected}`,
  );
}

function positive(read: Reader, kombu: string, fallback: number, allowZero = false): number {
  const value = read(kombu, camel(kombu));
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    bad(kombu, value, `a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
  return value;
}

function string(read: Reader, kombu: string, fallback: string, allowEmpty = false): string {
  const value = read(kombu, camel(kombu));
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || (!allowEmpty && value === '')) bad(kombu, value, 'a non-empty string');
  return value;
}

function steps(read: Reader): number[] {
  const value = read('priority_steps', 'prioritySteps');
  if (value === undefined || value === null) return [0, 3, 6, 9];
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((v, i) => Number.isInteger(v) && v >= 0 && v <= 9 && (i === 0 ? v === 0 : v > value[i - 1]));
  if (!ok)
    bad('priority_steps', value, 'an increasing list of integers 0-9 starting with 0, such as [0, 3, 6, 9]');
  return value as number[];
}

/** kombu's `socket_keepalive` is a boolean; a number is the idle time in seconds before probes start. */
function keepAlive(read: Reader): number {
  const value = read('socket_keepalive', 'socketKeepalive');
  if (value === true || value === undefined || value === null) return 10;
  if (value === false) return 0;
  return positive(read, 'socket_keepalive', 10, true);
}

/** The `deadLetterMaxBytes` setting's default, for brokers made without an app. */
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 64 * 1024 * 1024;

/** Validates `transportOptions`; unknown names are reported through `warn` with a suggestion. */
export function readBrokerOptions(
  transportOptions: Readonly<Record<string, unknown>>,
  warn: (message: string) => void,
): RedisBrokerOptions {
  const names = new Set([...KNOWN, ...KNOWN.map(camel)]);
  for (const key of Object.keys(transportOptions)) {
    if (!names.has(key)) {
      warn(`Unknown broker transport option "${key}" ignored${didYouMean(key, [...names])}`);
    }
  }
  const read: Reader = (kombu, camelName) => transportOptions[camelName] ?? transportOptions[kombu];
  const visibilityTimeout = positive(read, 'visibility_timeout', 3600);
  const strategy = string(read, 'queue_order_strategy', 'round_robin');
  if (!['round_robin', 'sorted', 'priority'].includes(strategy)) {
    bad('queue_order_strategy', strategy, 'round_robin, sorted or priority');
  }
  const fanoutPrefix = read('fanout_prefix', 'fanoutPrefix') ?? true;
  if (typeof fanoutPrefix !== 'boolean' && typeof fanoutPrefix !== 'string') {
    bad('fanout_prefix', fanoutPrefix, 'true, false or a prefix such as "/{db}."');
  }
  const fanoutPatterns = read('fanout_patterns', 'fanoutPatterns') ?? true;
  if (typeof fanoutPatterns !== 'boolean') bad('fanout_patterns', fanoutPatterns, 'true or false');
  const restoreLimit = read('unacked_restore_limit', 'unackedRestoreLimit');
  if (
    restoreLimit !== undefined &&
    restoreLimit !== null &&
    !(Number.isInteger(restoreLimit) && (restoreLimit as number) > 0)
  ) {
    bad('unacked_restore_limit', restoreLimit, 'null or a positive integer');
  }
  const sentinelKwargs = read('sentinel_kwargs', 'sentinelKwargs');
  const sentinelPassword =
    typeof sentinelKwargs === 'object' && sentinelKwargs !== null
      ? (sentinelKwargs as Record<string, unknown>).password
      : undefined;
  const tls = read('tls', 'tls');
  if (tls !== undefined && (typeof tls !== 'object' || tls === null))
    bad('tls', tls, 'an object of Node TLS options');
  const masterName = read('master_name', 'masterName');
  if (masterName !== undefined && typeof masterName !== 'string') bad('master_name', masterName, 'a string');
  const socketTimeout = positive(read, 'socket_timeout', 15);
  const leaseRenewInterval = positive(read, 'lease_renew_interval', Math.min(60, visibilityTimeout / 4));
  if (leaseRenewInterval > visibilityTimeout / 2) {
    bad(
      'lease_renew_interval',
      leaseRenewInterval,
      `at most half of visibility_timeout (${visibilityTimeout}s), or held deliveries would be restored while held`,
    );
  }
  return {
    visibilityTimeout,
    unackedKey: string(read, 'unacked_key', 'unacked'),
    unackedIndexKey: string(read, 'unacked_index_key', 'unacked_index'),
    unackedMutexKey: string(read, 'unacked_mutex_key', 'unacked_mutex'),
    unackedMutexExpire: positive(read, 'unacked_mutex_expire', 300),
    unackedRestoreLimit: (restoreLimit as number | null | undefined) ?? null,
    sep: string(read, 'sep', '\x06\x16'),
    fanoutPrefix,
    fanoutPatterns,
    globalKeyprefix: string(read, 'global_keyprefix', '', true),
    queueOrderStrategy: strategy as QueueOrderStrategy,
    prioritySteps: steps(read),
    leaseRenewInterval,
    restoreInterval: positive(read, 'restore_interval', Math.min(60, Math.max(1, visibilityTimeout / 2))),
    fetchBatchSize: Math.min(1000, Math.floor(positive(read, 'fetch_batch_size', 100))),
    waitTimeout: positive(read, 'wait_timeout', 5),
    deadLetterMax: Math.floor(positive(read, 'dead_letter_max', 10_000)),
    deadLetterMaxBytes: DEFAULT_DEAD_LETTER_MAX_BYTES,
    settleRetryTimeout: positive(read, 'settle_retry_timeout', 30),
    connection: {
      socketTimeout,
      connectTimeout: positive(read, 'socket_connect_timeout', 5),
      keepAlive: keepAlive(read),
      healthCheckInterval: positive(read, 'health_check_interval', 10, true),
      clientName: string(read, 'client_name', 'celeriac'),
      masterName,
      sentinelPassword: typeof sentinelPassword === 'string' ? sentinelPassword : undefined,
      tls: tls as Record<string, unknown> | undefined,
    },
  };
}
