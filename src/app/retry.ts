/**
 * `retry()` and `autoretryFor`, as `celery/app/task.py:628 retry`, `:603 signature_from_request` and
 * `celery/app/autoretry.py`. Pure: it builds the message to re-send and throws `Retry` carrying it; whoever runs
 * the task (the worker's executor, or an eager `apply()`) publishes it or re-runs it. Keeping the publish out of
 * the task means `retry()` works the same in every pool, including worker threads and child processes.
 */
import { isCeleriacError, MaxRetriesExceededError, Retry, type RetrySignature } from '../errors.js';
import { pyReprArgs, pyReprKwargs, saferepr } from '../protocol/pyrepr.js';
import type { JsonValue } from '../types.js';
import { currentTaskScope, type TaskRequest, type TaskScope } from './context.js';
import { etaToMs } from './publish.js';
import type { CallOptions } from './task.js';

/** Options of `retry()`; every one is optional. */
export interface RetryOptions {
  /** Arguments for the next run (default: the same). */
  args?: readonly unknown[];
  kwargs?: Readonly<Record<string, unknown>>;
  /** The error that caused the retry: stored as the RETRY result, and re-thrown when retries run out. */
  exc?: unknown;
  /** Seconds before the next run (default: the task's `defaultRetryDelay`, 180). */
  countdown?: number;
  /** When the next run may start (instead of `countdown`). */
  eta?: Date | string | number;
  /** Overrides the task's `maxRetries` for this call; `undefined` and `null` both mean the task's own. */
  maxRetries?: number | null;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  priority?: number;
  timeLimit?: number;
  softTimeLimit?: number;
  expires?: number | Date;
  headers?: Record<string, JsonValue>;
}

/** Celery's default `max_retries` and `default_retry_delay`. */
export const DEFAULT_MAX_RETRIES = 3;
export const DEFAULT_RETRY_DELAY = 180;

/** Headers the protocol owns; anything else in a request's headers is a custom header and travels on. */
const PROTOCOL_HEADERS: ReadonlySet<string> = new Set([
  'lang',
  'task',
  'id',
  'shadow',
  'eta',
  'expires',
  'group',
  'group_index',
  'retries',
  'timelimit',
  'root_id',
  'parent_id',
  'argsrepr',
  'kwargsrepr',
  'origin',
  'ignore_result',
  'compression',
]);

/** The custom headers of a request (those a caller added with the `headers` calling option). */
export function customHeaders(request: TaskRequest): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(request.headers)) {
    if (!PROTOCOL_HEADERS.has(key)) out[key] = value;
  }
  return out;
}

/** `repr()` of an error as Celery prints it in "Retry in 5s: KeyError('nope')". */
function errorRepr(error: unknown): string {
  if (error instanceof Error) return `${error.name}(${saferepr(error.message)})`;
  return saferepr(error);
}

/**
 * The calling options that re-send a request (`signature_from_request` + `Context.as_execution_options`): same id,
 * workflow ids, callbacks, chain, time limits and custom headers, routed back to the queue it came from.
 */
export function retryCallOptions(request: TaskRequest, options: RetryOptions, retries: number): CallOptions {
  const [hard, soft] = request.timelimit;
  const embed = request.embed;
  const out: CallOptions = {
    taskId: request.id,
    retries,
    rootId: request.rootId ?? request.id,
    // Celery publishes the retry from inside the task, so a task without a parent becomes its own parent.
    parentId: request.parentId ?? request.id,
    ignoreResult: request.headers.ignore_result === true,
  };
  if (request.replyTo) out.replyTo = request.replyTo;
  if (request.group) out.groupId = request.group;
  if (request.groupIndex !== null) out.groupIndex = request.groupIndex;
  if (request.shadow) out.shadow = request.shadow;
  if (embed.chord) out.chord = embed.chord;
  if (embed.chain && embed.chain.length > 0) out.chain = embed.chain;
  if (embed.callbacks && embed.callbacks.length > 0) out.link = embed.callbacks;
  if (embed.errbacks && embed.errbacks.length > 0) out.linkError = embed.errbacks;
  if (request.expires) out.expires = request.expires;
  if (hard !== null) out.timeLimit = hard;
  if (soft !== null) out.softTimeLimit = soft;
  const headers = { ...customHeaders(request), ...options.headers };
  if (Object.keys(headers).length > 0) out.headers = headers;
  const delivery = request.deliveryInfo;
  if (delivery.priority !== null) out.priority = delivery.priority;
  if (options.queue !== undefined) out.queue = options.queue;
  else if (delivery.exchange === '' && delivery.routingKey) out.queue = delivery.routingKey;
  else if (delivery.exchange) {
    out.exchange = delivery.exchange;
    out.routingKey = delivery.routingKey;
  } else if (request.queue) out.queue = request.queue;
  if (options.exchange !== undefined) out.exchange = options.exchange;
  if (options.routingKey !== undefined) out.routingKey = options.routingKey;
  if (options.priority !== undefined) out.priority = options.priority;
  if (options.timeLimit !== undefined) out.timeLimit = options.timeLimit;
  if (options.softTimeLimit !== undefined) out.softTimeLimit = options.softTimeLimit;
  if (options.expires !== undefined) out.expires = options.expires;
  return out;
}

/**
 * Builds the retry of the running task and throws it: `Retry` (the worker re-sends and records RETRY), or, once
 * `retries` would pass `maxRetries`, `exc` when given, else MaxRetriesExceededError.
 */
export function retryScope(scope: TaskScope, options: RetryOptions): never {
  const { request } = scope;
  const retries = request.retries + 1;
  const taskMax = scope.options.maxRetries === undefined ? DEFAULT_MAX_RETRIES : scope.options.maxRetries;
  const maxRetries = options.maxRetries ?? taskMax;
  let countdown = options.countdown;
  if (options.eta === undefined && countdown === undefined) {
    countdown = scope.options.defaultRetryDelay ?? DEFAULT_RETRY_DELAY;
  }
  const args = options.args ? [...options.args] : [...request.args];
  const kwargs = options.kwargs ? { ...options.kwargs } : { ...request.kwargs };
  const exc = options.exc ?? null;
  if (maxRetries !== null && retries > maxRetries) {
    // `exc` is whatever the task chose to re-raise (Celery's `raise_with_context(exc)`), Error or not.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    if (exc !== null) throw exc;
    throw new MaxRetriesExceededError(
      `Can't retry ${request.task}[${request.id}] args:${pyReprArgs(args, null)} kwargs:${pyReprKwargs(kwargs, null)}`,
    );
  }
  const callOptions = retryCallOptions(request, options, retries);
  let when: Date | number;
  if (options.eta !== undefined) {
    when = new Date(etaToMs(options.eta));
    callOptions.eta = when;
  } else {
    when = countdown!;
    if (when > 0) callOptions.countdown = when;
  }
  const sig: RetrySignature = { task: request.task, args, kwargs, options: { ...callOptions } };
  const humanized = typeof when === 'number' ? `in ${when}s` : `at ${when.toISOString()}`;
  const message = exc !== null ? `Retry ${humanized}: ${errorRepr(exc)}` : `Retry ${humanized}`;
  throw new Retry(message, exc, when, sig);
}

/**
 * `retry()` outside a worker or eager run (the function called directly): there is nothing to re-send, so as
 * Celery does (`request.called_directly`) it throws `exc`, or a Retry without a message to send.
 */
export function retryOutsideTask(options: RetryOptions): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error
  if (options.exc !== undefined && options.exc !== null) throw options.exc;
  throw new Retry('Task can be retried', null, null);
}

/** `retry()` for whatever task runs in this async context. */
export function retryCurrent(options: RetryOptions = {}): never {
  const scope = currentTaskScope();
  if (!scope) retryOutsideTask(options);
  return retryScope(scope, options);
}

/** Error classes (or class names, which also match across worker threads) that trigger an automatic retry. */
// Any error class, whatever its constructor takes.
export type ErrorMatcher = string | (abstract new (...args: never[]) => unknown);

/** The task options `autoretryFor` reads. */
export interface AutoretryOptions {
  readonly autoretryFor?: readonly ErrorMatcher[];
  readonly retryKwargs?: Readonly<RetryOptions>;
  /** `true` (factor 1) or a factor in seconds: countdown = min(retryBackoffMax, factor * 2 ** retries). */
  readonly retryBackoff?: boolean | number;
  /** Cap of the backoff, in seconds (default 600). */
  readonly retryBackoffMax?: number;
  /** Full jitter: a random countdown between 0 and the backoff (default true). */
  readonly retryJitter?: boolean;
}

/** The names an error answers to: its `name`, its classes', and a remote error's Python type. */
function errorNames(error: unknown): Set<string> {
  const names = new Set<string>();
  if (typeof error !== 'object' || error === null) return names;
  const named = error as { name?: unknown; excType?: unknown };
  if (typeof named.name === 'string') names.add(named.name);
  if (isCeleriacError(error, 'RemoteTaskError') && typeof named.excType === 'string')
    names.add(named.excType);
  for (let proto: unknown = Object.getPrototypeOf(error); proto; proto = Object.getPrototypeOf(proto)) {
    const ctor = (proto as { constructor?: { name?: unknown } }).constructor;
    if (typeof ctor?.name === 'string' && ctor.name !== '') names.add(ctor.name);
  }
  return names;
}

export function matchesError(error: unknown, matchers: readonly ErrorMatcher[]): boolean {
  let names: Set<string> | undefined;
  for (const matcher of matchers) {
    if (typeof matcher === 'string') {
      names ??= errorNames(error);
      if (names.has(matcher)) return true;
    } else if (error instanceof matcher) {
      return true;
    }
  }
  return false;
}

/**
 * Celery's `get_exponential_backoff_interval` (`celery/utils/time.py:374`): `min(maximum, factor * 2 ** retries)`,
 * then with full jitter a whole number of seconds drawn uniformly from 0 to that countdown (`randrange(n + 1)`).
 */
export function exponentialBackoff(
  factor: number,
  retries: number,
  maximum: number,
  fullJitter: boolean,
  random: () => number = Math.random,
): number {
  let countdown = Math.min(maximum, factor * 2 ** retries);
  if (fullJitter) countdown = Math.floor(random() * (Math.floor(countdown) + 1));
  return Math.max(0, countdown);
}

/**
 * When `error` is one of the task's `autoretryFor`, throws the retry Celery's autoretry wrapper would
 * (`celery/app/autoretry.py`); otherwise returns. Retry, Ignore and Reject are never retried automatically.
 */
export function autoretry(scope: TaskScope, options: AutoretryOptions, error: unknown): void {
  const matchers = options.autoretryFor;
  if (!matchers || matchers.length === 0) return;
  if (isCeleriacError(error, 'Retry') || isCeleriacError(error, 'Ignore') || isCeleriacError(error, 'Reject'))
    return;
  if (!matchesError(error, matchers)) return;
  const retryOptions: RetryOptions = { ...options.retryKwargs, exc: error };
  // Celery casts retry_backoff and retry_backoff_max with int().
  const factor = Math.trunc(Number(options.retryBackoff ?? 0));
  if (factor) {
    retryOptions.countdown = exponentialBackoff(
      factor,
      scope.request.retries,
      Math.trunc(options.retryBackoffMax ?? 600),
      options.retryJitter ?? true,
    );
  }
  retryScope(scope, retryOptions);
}
