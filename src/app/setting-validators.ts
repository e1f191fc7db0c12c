/**
 * Small pure validators for the settings table (settings.ts) and the worker options (worker/options.ts). Each one
 * knows, in words, what a valid value looks like, so that every error names the setting, the value and what is
 * expected: `Invalid value for workerConcurrency: 0: expected null or a positive integer`.
 */
import type { ExchangeType, QueueSpec } from '../brokers/broker.js';
import { didYouMean, ImproperlyConfigured } from '../errors.js';
import { defaultRetryPolicy, type RetryPolicy } from '../lifecycle/backoff.js';
import { URL_EXAMPLES, urlScheme } from '../lifecycle/url.js';
import { COMPRESSION_NAMES, isCompressionName } from '../protocol/compression.js';
import { AcceptPolicy, Serializers } from '../protocol/serializers/index.js';
import { digestFor } from '../protocol/signing.js';
import type { TaskRoutes } from './routing.js';
import { compileTlsSetting, type TlsSetting } from './tls.js';

/** What a validator may check against besides the value: the app's own tables. */
export interface ValidationContext {
  /** The app's serializers (json, msgpack and those from `app.registerSerializer()`). */
  readonly serializers: Serializers;
}

export interface Validator<In, Out = In> {
  /** What a valid value looks like, as errors say it after `expected`. */
  readonly expected: string;
  /**
   * The compiled value; throws ImproperlyConfigured naming `label` when `value` does not fit, saying what is
   * expected (`expected`, when a wrapper such as `orNull` words it differently).
   */
  compile(value: unknown, label: string, expected?: string, context?: ValidationContext): Out;
  /** Type only, never set: what a user may write (`CeleryOptions` is inferred from it). */
  readonly input?: In;
}

/** Throws the one error shape every invalid setting gets. */
export function invalid(label: string, value: unknown, expected: string): never {
  throw new ImproperlyConfigured(`Invalid value for ${label}: ${show(value)}: expected ${expected}`);
}

/** A value as errors and docs print it: JSON where it has one. */
export function show(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (value instanceof RegExp) return String(value);
  return JSON.stringify(value) ?? String(value);
}

/** A validator from a compile function, which calls `fail()` for a value that does not fit. */
export function validator<In, Out = In>(
  expected: string,
  compile: (value: unknown, label: string, fail: () => never) => Out,
): Validator<In, Out> {
  return {
    expected,
    compile: (value, label, shown = expected) => compile(value, label, () => invalid(label, value, shown)),
  };
}

/** A validator from a type guard: the value is kept as given. */
export function valid<T>(expected: string, test: (value: unknown) => value is T): Validator<T> {
  return validator(expected, (value, _label, fail) => (test(value) ? value : fail()));
}

/** `null`, or what `inner` accepts. */
export function orNull<In, Out>(
  inner: Validator<In, Out>,
  expected = `null or ${inner.expected}`,
): Validator<In | null, Out | null> {
  return {
    expected,
    compile: (value, label, shown = expected, context) =>
      value === null ? null : inner.compile(value, label, shown, context),
  };
}

const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export const bool = valid('true or false', (v): v is boolean => typeof v === 'boolean');

export function positiveInt(expected = 'a positive integer'): Validator<number> {
  return valid(expected, (v): v is number => isInteger(v) && v > 0);
}

export function nonNegativeInt(expected = 'a non-negative integer'): Validator<number> {
  return valid(expected, (v): v is number => isInteger(v) && v >= 0);
}

export function intBetween(min: number, max: number, expected: string): Validator<number> {
  return valid(expected, (v): v is number => isInteger(v) && v >= min && v <= max);
}

export function positiveNumber(expected = 'a positive number'): Validator<number> {
  return valid(expected, (v): v is number => isFiniteNumber(v) && v > 0);
}

export function nonNegativeNumber(expected = 'a non-negative number'): Validator<number> {
  return valid(expected, (v): v is number => isFiniteNumber(v) && v >= 0);
}

/** Any string, the empty one included (an exchange name may be `''`, the default exchange). */
export function string(expected: string): Validator<string> {
  return valid(expected, (v): v is string => typeof v === 'string');
}

export function nonEmptyString(expected: string): Validator<string> {
  return valid(expected, (v): v is string => typeof v === 'string' && v.length > 0);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const plainObject = valid('an object', isPlainObject);

/** A time zone Node's ICU knows (the IANA database: "UTC", "Europe/Paris"). */
export const timeZoneName = valid(
  'an IANA time zone name such as "UTC", "Europe/Paris" or "America/New_York"',
  (v): v is string => {
    if (typeof v !== 'string' || v === '') return false;
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: v });
      return true;
    } catch {
      return false;
    }
  },
);

/** One of a fixed list of strings; the list is the expected text. */
export function oneOf<const T extends string>(values: readonly T[]): Validator<T> {
  const expected = `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
  return valid(expected, (v): v is T => values.includes(v as T));
}

/** A non-empty list of strings. */
export function nonEmptyStrings(expected: string): Validator<readonly string[]> {
  return valid(
    expected,
    (v): v is readonly string[] => Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string'),
  );
}

// Celery's kinds of values.

export const EXCHANGE_TYPES = ['direct', 'topic', 'fanout'] as const;
export const exchangeType = oneOf<ExchangeType>(EXCHANGE_TYPES);

/** A URL with a scheme; the scheme is looked up when the broker or backend connects ("did you mean" there). */
function checkUrl(value: unknown, label: string, fail: () => never): string {
  if (typeof value !== 'string') return fail();
  urlScheme(value, label);
  return value;
}

/** The broker URL. Unset (null) until given; the configuration then needs one when it is first used. */
export const brokerUrl = validator<string, string | null>(`a broker URL such as ${URL_EXAMPLES}`, checkUrl);

/** A result backend URL, `"disabled"`, or null (no results). */
export const backendUrl = validator<string | null>(
  'null, "disabled" or a result backend URL such as sqlite://celeriac.db or redis://localhost:6379/0',
  (value, label, fail) => (value === null || value === 'disabled' ? value : checkUrl(value, label, fail)),
);

/** The built-in serializers, for values checked without an app. */
const builtinSerializers = new Serializers();

/** A serializer the app knows by this name (a built-in one, or one it registered). */
export const serializerName: Validator<string> = {
  expected: `one of ${builtinSerializers.names().join(', ')}`,
  compile: (value, label, _expected, context) => {
    const serializers = context?.serializers ?? builtinSerializers;
    // `auth` is known before setupSecurity() registers it, so settings can name it at new Celery().
    if (typeof value === 'string' && serializers.knows(value)) return value;
    return invalid(label, value, `one of ${serializers.names().join(', ')}`);
  },
};

const strings = nonEmptyStrings('a non-empty list such as ["json"]');

/** Serializer names or content types; pickle and YAML are refused by name (AcceptPolicy says why). */
export const acceptList: Validator<readonly string[]> = {
  expected: strings.expected,
  compile: (value, label, _expected, context) => {
    const list = strings.compile(value, label);
    new AcceptPolicy(list, context?.serializers ?? builtinSerializers, label);
    return list;
  },
};

/** `security_digest`: a digest Celery can sign with, weak ones (md5, sha1) refused. */
export const digestName = validator<string>('a digest such as "sha256"', (value, label, fail) => {
  if (typeof value !== 'string') return fail();
  try {
    digestFor(value);
  } catch (error) {
    throw new ImproperlyConfigured(`Invalid value for ${label}: ${(error as Error).message}`);
  }
  return value;
});

/** The path of a PEM file (key, certificate) or a glob of them; checked when setupSecurity() reads them. */
export const pemPath = orNull(nonEmptyString('a file path'), 'null or the path of a PEM file');

/** `broker_use_ssl`, `redis_backend_use_ssl`: true, or TLS options under Node's or Celery's keys. */
export const tlsSetting = validator<boolean | Readonly<Record<string, unknown>> | null, TlsSetting | null>(
  'null, true or an object such as { ca, cert, key, rejectUnauthorized }',
  (value, label) => compileTlsSetting(label, value),
);

export const compressionName = orNull(
  valid('', (v): v is string => typeof v === 'string' && isCompressionName(v)),
  `null or one of ${COMPRESSION_NAMES.join(', ')}`,
);

/** AMQP delivery modes by number or by name, compiled to the number. */
export const deliveryMode = validator<1 | 2 | 'transient' | 'persistent', 1 | 2>(
  '1 (transient), 2 (persistent), "transient" or "persistent"',
  (v, _label, fail) => (v === 1 || v === 'transient' ? 1 : v === 2 || v === 'persistent' ? 2 : fail()),
);

const RATE = /^\d+(\.\d+)?(\/[smh])?$/;

/** Celery's rate strings (`celery.utils.time.rate`) or tasks per second. */
export const rateLimit = orNull(
  valid('', (v): v is string | number =>
    typeof v === 'number' ? Number.isFinite(v) && v >= 0 : typeof v === 'string' && RATE.test(v),
  ),
  'a rate such as "10/s", "100/m", "5/h" or a number per second',
);

function isQueueSpec(v: unknown): v is QueueSpec {
  return (
    isPlainObject(v) &&
    typeof v.name === 'string' &&
    v.name.length > 0 &&
    (v.exchange === undefined || typeof v.exchange === 'string') &&
    (v.exchangeType === undefined || EXCHANGE_TYPES.includes(v.exchangeType as ExchangeType)) &&
    (v.routingKey === undefined || typeof v.routingKey === 'string')
  );
}

/** Declared queues (`task_queues`); null is the empty list. */
export const queueSpecs = validator<readonly QueueSpec[] | null, readonly QueueSpec[]>(
  'a list of queues, each with a name (and optionally exchange, exchangeType direct/topic/fanout, routingKey)',
  (v, _label, fail) => (v === null ? [] : Array.isArray(v) && v.every(isQueueSpec) ? v : fail()),
);

function isRouteEntry(v: unknown): boolean {
  if (typeof v === 'function' || isPlainObject(v)) return true;
  return Array.isArray(v) && v.length === 2 && v[0] instanceof RegExp;
}

/** `task_routes`: a map, a router function, a `[RegExp, target]` pair, or a list of them. */
export const taskRoutes = orNull(
  valid(
    '',
    (v): v is TaskRoutes =>
      typeof v === 'function' || isPlainObject(v) || (Array.isArray(v) && v.every(isRouteEntry)),
  ),
  "null, a map such as { 'tasks.add': 'math' }, a router function, or a list of maps, functions and [RegExp, target] pairs",
);

const POLICY_KEYS: readonly (keyof RetryPolicy)[] = [
  'maxRetries',
  'intervalStart',
  'intervalStep',
  'intervalMax',
];
const policyValue = nonNegativeNumber();

/**
 * `task_publish_retry_policy`, merged over the default. Celery writes its keys in snake_case (`max_retries`), so
 * both spellings are accepted; an unknown key is an error naming the closest known one.
 */
export const retryPolicy = validator<Partial<RetryPolicy>, RetryPolicy>(
  'an object with maxRetries, intervalStart, intervalStep and intervalMax',
  (value, label, fail) => {
    if (!isPlainObject(value)) return fail();
    const policy: RetryPolicy = { ...defaultRetryPolicy };
    for (const [key, entry] of Object.entries(value)) {
      const name = POLICY_KEYS.find((k) => k === key || k === camelCase(key));
      if (name === undefined) {
        const hint = didYouMean(key, POLICY_KEYS) || didYouMean(camelCase(key), POLICY_KEYS);
        throw new ImproperlyConfigured(`Unknown key "${key}" in ${label}${hint}`);
      }
      policy[name] = policyValue.compile(entry, `${label}.${name}`);
    }
    return policy;
  },
);

/** `max_retries` -> `maxRetries`. */
export function camelCase(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
