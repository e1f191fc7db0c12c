/**
 * Errors with Celery's names. Each carries a brand so that `isCeleriacError(x, 'Retry')` still works for an
 * error that crossed a worker thread or a process boundary (where `instanceof` does not survive).
 */
import type { JsonValue } from './types.js';

const BRAND = Symbol.for('celeriac.error');

export class CeleriacError extends Error {
  readonly [BRAND] = true;
  /** The Python module Celery declares this exception in; used when the error is stored as a result. */
  static readonly pyModule: string = 'celery.exceptions';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** True when `error` is a Celeriac error, optionally of the given class name, even across realms. */
export function isCeleriacError(error: unknown, name?: string): error is CeleriacError {
  if (typeof error !== 'object' || error === null) return false;
  const branded = (error as Record<symbol, unknown>)[BRAND] === true || error instanceof CeleriacError;
  return branded && (name === undefined || (error as Error).name === name);
}

/** A setting is missing or has an invalid value. The message names the setting and the fix. */
export class ImproperlyConfigured extends CeleriacError {}

/** A task name that this app or worker does not know. */
export class NotRegistered extends CeleriacError {
  constructor(readonly taskName: string) {
    super(taskName);
  }
}

/** `AsyncResult.get()` ran out of time (Celery's `celery.exceptions.TimeoutError`). */
export class TimeoutError extends CeleriacError {}

/**
 * The message a retry re-sends: the task name, its arguments and the calling options (Celeriac's CallOptions,
 * plain data so that it survives a worker thread or process boundary).
 */
export interface RetrySignature {
  readonly task: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly options: Readonly<Record<string, unknown>>;
}

/**
 * Thrown by `retry()`: the worker re-sends `sig` (same task id, `retries + 1`), records RETRY and does not treat it
 * as a failure. `exc` is the error that caused the retry (stored as the RETRY result), `when` the countdown in
 * seconds or the ETA.
 */
export class Retry extends CeleriacError {
  constructor(
    message: string,
    readonly exc: unknown,
    readonly when: Date | number | null,
    readonly sig: RetrySignature | null = null,
  ) {
    super(message);
  }
}

/** Reject the message: the worker rejects it (requeued when asked) and stores no result. */
export class Reject extends CeleriacError {
  constructor(
    readonly reason: string = '',
    readonly requeue = false,
  ) {
    super(reason || 'rejected');
  }
}

/** Ignore: the worker acknowledges the message and stores nothing. */
export class Ignore extends CeleriacError {
  constructor(reason = 'ignored') {
    super(reason);
  }
}

/** `retry()` was called once more than `maxRetries` allows and no `exc` was given to re-throw instead. */
export class MaxRetriesExceededError extends CeleriacError {}

export class TaskRevokedError extends CeleriacError {}

export class ChordError extends CeleriacError {}

/** The task message could not be understood; `reason` is a short code such as `body-decode-error`. */
export class InvalidTaskError extends CeleriacError {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Content of a type outside `acceptContent` (Celery's `kombu.exceptions.ContentDisallowed`). */
export class ContentDisallowed extends CeleriacError {
  static override readonly pyModule: string = 'kombu.exceptions';
}

export class EncodeError extends CeleriacError {
  static override readonly pyModule: string = 'kombu.exceptions';
}

export class DecodeError extends CeleriacError {
  static override readonly pyModule: string = 'kombu.exceptions';
}

/**
 * A signed message (or a signing setup) failed a check: Celery's `celery.exceptions.SecurityError`. `reason` is a
 * short code the worker logs and rejects with (`bad-signature`, `unknown-certificate`, `expired-certificate`, ...).
 */
export class SecurityError extends CeleriacError {
  constructor(
    message: string,
    readonly reason: string = 'security-error',
  ) {
    super(message);
  }
}

/** The task ran past its soft time limit (its AbortSignal was aborted). */
export class SoftTimeLimitExceeded extends CeleriacError {
  static override readonly pyModule: string = 'billiard.exceptions';
}

/** The task ran past its hard time limit and was stopped. */
export class TimeLimitExceeded extends CeleriacError {
  static override readonly pyModule: string = 'billiard.exceptions';
}

/** The thread or process running the task died. */
export class WorkerLostError extends CeleriacError {
  static override readonly pyModule: string = 'billiard.exceptions';
}

/** The broker connection failed, or an operation on it did. */
export class ConnectionError extends CeleriacError {}

/**
 * A task failure read back from a result backend. Never rebuilt into a class named by backend data
 * (CVE-2021-23727): the remote type, module, message and traceback are kept as plain fields.
 */
export class RemoteTaskError extends CeleriacError {
  constructor(
    readonly excType: string,
    readonly excModule: string | null,
    readonly excArgs: JsonValue,
    readonly remoteTraceback: string | null,
    readonly taskId: string,
  ) {
    super(`${excType}: ${RemoteTaskError.formatArgs(excArgs)}`);
  }

  /** The message the remote error was raised with (its first argument when Celery stored a list). */
  get remoteMessage(): string {
    return RemoteTaskError.formatArgs(this.excArgs);
  }

  private static formatArgs(args: JsonValue): string {
    if (Array.isArray(args)) {
      if (args.length === 1) return typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]);
      return args.length === 0 ? '' : JSON.stringify(args);
    }
    return typeof args === 'string' ? args : JSON.stringify(args);
  }
}

/** The Python module an error is stored under: Celery's own for Celery errors, `builtins` where Python has the name. */
export function pythonModuleFor(error: Error): string | null {
  if (isCeleriacError(error))
    return (error.constructor as { pyModule?: string }).pyModule ?? 'celery.exceptions';
  return PYTHON_BUILTIN_ERRORS.has(error.name) ? 'builtins' : null;
}

/** JavaScript error names that mean the same thing as a Python built-in exception of that name. */
const PYTHON_BUILTIN_ERRORS = new Set([
  'TypeError',
  'ValueError',
  'KeyError',
  'IndexError',
  'RuntimeError',
  'NotImplementedError',
  'ZeroDivisionError',
  'AttributeError',
  'LookupError',
  'ArithmeticError',
  'OverflowError',
  'AssertionError',
  'Exception',
]);

/** `' (did you mean "redis"?)'` when `input` is a small edit away from one of `candidates`, else `''`. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(input.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(input.length / 3))
    ? ` (did you mean "${best}"?)`
    : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
