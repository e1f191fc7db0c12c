/**
 * A registered task: typed calling (`delay`, `applyAsync`) inferred from the task function, and the per-task
 * options Celery puts on its Task class (`celery/app/task.py`).
 */
import type { ExchangeType } from '../brokers/broker.js';
import { canvas, type ChunksOf, type SignatureOf } from './canvas-port.js';
import type { Celery } from './celery.js';
import { ImproperlyConfigured, InvalidTaskError } from '../errors.js';
import type { SignatureDict } from '../protocol/message.js';
import type { AsyncResult } from '../result/async-result.js';
import type { EagerResult } from '../result/eager-result.js';
import type { JsonValue } from '../types.js';
import {
  currentTaskScope,
  requireScope,
  type StateUpdate,
  type TaskContext,
  type TaskRequest,
  type TaskScope,
} from './context.js';
import { retryOutsideTask, retryScope, type AutoretryOptions, type RetryOptions } from './retry.js';

/** Anything that turns into a signature dict: a Signature, or a dict received from Python. */
export type SignatureLike = SignatureDict | { toDict(): SignatureDict };

export interface CallOptions {
  /** Use this task id instead of a new UUID. */
  taskId?: string;
  /** Seconds from now before the task may run. */
  countdown?: number;
  /** When the task may run: a Date, an ISO-8601 string or milliseconds since the epoch. */
  eta?: Date | string | number;
  /** Seconds from now, or a Date, after which the task is REVOKED (expired) instead of run. */
  expires?: number | Date;
  /** 0-9 (or up to the queue's maxPriority on RabbitMQ); on Redis 0 is the highest. */
  priority?: number;
  queue?: string;
  exchange?: string;
  exchangeType?: ExchangeType;
  routingKey?: string;
  /** Extra message headers, readable by the task as `request.headers`. */
  headers?: Record<string, JsonValue>;
  /** Hard time limit in seconds (the `timelimit` header). */
  timeLimit?: number;
  /** Soft time limit in seconds. */
  softTimeLimit?: number;
  serializer?: string;
  compression?: string;
  ignoreResult?: boolean;
  /** A display name for logs and monitoring (`headers.shadow`). */
  shadow?: string;
  /** Called with this task's result on success. */
  link?: SignatureLike | readonly SignatureLike[];
  /** Called on failure. */
  linkError?: SignatureLike | readonly SignatureLike[];
  /** Retry publishing on connection errors (default `taskPublishRetry`). */
  retry?: boolean;
  retryPolicy?: { maxRetries?: number; intervalStart?: number; intervalStep?: number; intervalMax?: number };
  deliveryMode?: 1 | 2;
  argsrepr?: string;
  kwargsrepr?: string;
  /** Protocol fields set by retries and canvas; rarely set by hand. */
  retries?: number;
  groupId?: string;
  groupIndex?: number;
  rootId?: string;
  parentId?: string;
  replyTo?: string;
  chain?: readonly SignatureDict[];
  chord?: SignatureDict;
}

/**
 * Task handlers: Celery's Task methods `before_start`, `on_success`, `on_failure`, `on_retry` and `after_return`,
 * given as options. They run in the worker process, in the order docs/tasks.md lists, next to the app's hooks;
 * one that throws is logged and does not change the task's outcome.
 */
export interface TaskHandlers<R = unknown> {
  /** Before the task function runs (after `taskPrerun` and the STARTED state). */
  beforeStart?(request: TaskRequest): void | Promise<void>;
  /** After SUCCESS is stored. */
  onSuccess?(retval: R, request: TaskRequest): void | Promise<void>;
  /** After FAILURE is stored (and errbacks are sent). */
  onFailure?(error: unknown, request: TaskRequest, traceback: string | null): void | Promise<void>;
  /** After RETRY is stored; `error` is the `exc` given to `retry()` (or null). */
  onRetry?(error: unknown, request: TaskRequest): void | Promise<void>;
  /** After SUCCESS or FAILURE has been handled (not after a retry, reject or ignore). */
  afterReturn?(state: string, retval: unknown, request: TaskRequest): void | Promise<void>;
}

/** Per-task options; unset ones fall back to the app's `task*` settings. */
export interface TaskOptions<R = unknown> extends TaskHandlers<R>, AutoretryOptions {
  /**
   * Names of the task's positional parameters. Python callers pass keyword arguments
   * (`add.delay(x=2, y=3)`); with `params: ['x', 'y']` those bind to the matching positions.
   */
  params?: readonly string[];
  /** Accept keyword arguments not named in `params`: they are passed as one extra object argument. */
  acceptsKwargs?: boolean;
  /**
   * Pass the running task's context (request, retry, updateState, sendEvent, signal) as the first argument,
   * as Celery's `bind=True`. Without it the same context is reachable with `currentTask()`.
   */
  bind?: boolean;
  /** Retries allowed before MaxRetriesExceededError; null retries forever. Default 3. */
  maxRetries?: number | null;
  /** Seconds `retry()` waits when given neither `countdown` nor `eta`. Default 180. */
  defaultRetryDelay?: number;
  acksLate?: boolean;
  acksOnFailureOrTimeout?: boolean;
  rejectOnWorkerLost?: boolean;
  trackStarted?: boolean;
  ignoreResult?: boolean;
  storeErrorsEvenIfIgnored?: boolean;
  /** Whether this task sends task-* events when the worker sends task events. Default true. */
  sendEvents?: boolean;
  /** Seconds. */
  timeLimit?: number | null;
  /** Seconds. */
  softTimeLimit?: number | null;
  /** `"10/s"`, `"100/m"`, `"5/h"` or tasks per second, per worker. */
  rateLimit?: string | number | null;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  priority?: number;
  /** Default `expires` for calls, in seconds. */
  expires?: number;
  serializer?: string;
  compression?: string;
  deliveryMode?: 1 | 2;
  /** Check the argument count when calling (Celery's `typing`), default true. */
  typing?: boolean;
}

// The widest callable: every function is one (its parameters accept `never`); task arguments are checked against
// the real function's parameters at the call site instead.
export type AnyTaskFn = (...args: never[]) => unknown;

/** Every tail of an argument list: what `task.s(...)` may be given (partial args are the last ones). */
export type Suffixes<A extends unknown[]> = A extends [unknown, ...infer T] ? A | Suffixes<T> : A;

/** `A` without its last `P['length']` elements (optional ones counted as given). */
type DropLast<A extends unknown[], P extends unknown[]> = P extends [unknown, ...infer PT]
  ? A extends [...infer Init, unknown]
    ? DropLast<Init, PT>
    : unknown[]
  : A;

/** What a signature still takes once `P` was given to `task.s(...P)`: the leading arguments. */
export type Remaining<A extends unknown[], P extends unknown[]> = number extends A['length']
  ? unknown[]
  : P extends []
    ? A
    : DropLast<Required<A>, P>;

export class Task<A extends unknown[] = unknown[], R = unknown> {
  constructor(
    private readonly host: Celery,
    readonly name: string,
    /** The task function; with `bind: true` it takes the TaskContext first. */
    readonly fn: AnyTaskFn,
    readonly options: Readonly<TaskOptions<R>> = {},
  ) {}

  /** Sends the task with positional arguments; resolves once the broker has the message. */
  delay(...args: A): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /**
   * Sends the task with arguments, keyword arguments and calling options (`countdown`, `queue`, ...). With
   * `taskAlwaysEager` it runs here instead, after a serialize/deserialize round trip, as Celery does.
   */
  applyAsync(
    args: A,
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<AsyncResult<R>> {
    if (this.options.typing !== false) checkArity(this, args, kwargs);
    if (this.host.conf.taskAlwaysEager) {
      return this.host.applyEager<R>(this, args, kwargs, options, true);
    }
    return this.host.sendTask<R>(this.name, args, kwargs, this.callOptions(options));
  }

  /**
   * Sends the task once per entry of `argsList` (positional arguments), all with the same calling options, in
   * batches of up to 5,000 messages per round trip (`app.sendTasks`). Resolves with the results in order once the
   * broker has every message. With `taskAlwaysEager` each runs here, one after the other.
   */
  async applyAsyncMany(argsList: readonly A[], options: CallOptions = {}): Promise<AsyncResult<R>[]> {
    if (!isList(argsList)) {
      throw new TypeError(
        `${this.name}.applyAsyncMany() takes an array of argument arrays, such as [[1, 2], [3, 4]]`,
      );
    }
    argsList.forEach((args, i) => {
      if (!isList(args)) {
        throw new TypeError(`${this.name}.applyAsyncMany(): entry ${i} must be an array of arguments`);
      }
      if (this.options.typing !== false) checkArity(this, args, {});
    });
    if (this.host.conf.taskAlwaysEager) {
      const results: AsyncResult<R>[] = [];
      for (const args of argsList) results.push(await this.host.applyEager<R>(this, args, {}, options, true));
      return results;
    }
    const callOptions = this.callOptions(options);
    return (await this.host.sendTasks(
      argsList.map((args) => ({ name: this.name, args, kwargs: {}, options: callOptions })),
    )) as AsyncResult<R>[];
  }

  /**
   * Runs the task in this process now and returns its EagerResult (Celery's `apply`): hooks, handlers, retries
   * (re-run at once) and callbacks behave as in a worker; the result is stored only with `taskStoreEagerResult`.
   */
  apply(
    args: A,
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<EagerResult<R>> {
    if (this.options.typing !== false) checkArity(this, args, kwargs);
    return this.host.applyEager<R>(this, args, kwargs, options, false);
  }

  /**
   * A signature of this task with partial arguments (Celery's `task.s(...)`). The arguments given are the *last*
   * ones: the result of a previous chain link (or a chord header) is prepended when it runs, so `add.s(2)` still
   * takes `x` of `add(x, y)`.
   */
  s<P extends Suffixes<A> | [] = []>(...args: P): SignatureOf<Remaining<A, P>, R> {
    return canvas().signature<Remaining<A, P>, R>(this.host, this.signatureDict(args));
  }

  private signatureDict(args: readonly unknown[], immutable = false): SignatureDict {
    return {
      task: this.name,
      args: [...args] as JsonValue[],
      kwargs: {},
      options: {},
      subtask_type: null,
      immutable,
    };
  }

  /** An immutable signature (Celery's `task.si(...)`): it ignores the result of the task before it. */
  si(...args: A): SignatureOf<unknown[], R> {
    return canvas().signature<unknown[], R>(this.host, this.signatureDict(args, true));
  }

  /** One `celery.map` message calling this task once per item, in one worker; the result is the list. */
  map(it: Iterable<A[0]>): SignatureOf<unknown[], R[]> {
    return canvas().map<R>(this.host, 'celery.map', this.signatureDict([]), it);
  }

  /** One `celery.starmap` message calling this task once per argument list, in one worker. */
  starmap(it: Iterable<A>): SignatureOf<unknown[], R[]> {
    return canvas().map<R>(this.host, 'celery.starmap', this.signatureDict([]), it);
  }

  /** The calls split into a group of `celery.starmap` tasks of `n` calls each; the result is a list per chunk. */
  chunks(it: Iterable<A>, n: number): ChunksOf<R> {
    return canvas().chunks<R>(this.host, this.signatureDict([]), it, n);
  }

  /** Calls the task function directly, in this process, without a worker (no scope, no hooks). */
  run(...args: A): R | Promise<R> {
    const call = this.fn as (...args: unknown[]) => R | Promise<R>;
    return this.options.bind ? call(directContext(this.name), ...args) : call(...args);
  }

  AsyncResult(id: string): AsyncResult<R> {
    return this.host.AsyncResult<R>(id);
  }

  /** The request of this task's current run (inside the task only). */
  get request(): TaskRequest {
    return this.ownScope('request').request;
  }

  /** The AbortSignal of this task's current run: aborted at the soft time limit. */
  get signal(): AbortSignal {
    return this.ownScope('signal').signal;
  }

  /** Re-sends this task and ends the current run (see `TaskContext.retry`). Always throws. */
  retry(options: RetryOptions = {}): never {
    const scope = currentTaskScope();
    // Called directly (a unit test of the function): nothing to re-send, as Celery's `called_directly`.
    if (!scope) retryOutsideTask(options);
    return retryScope(this.ownScope('retry()'), options);
  }

  /** Stores a custom state (default PROGRESS) with `meta`, readable by AsyncResult while the task runs. */
  updateState(update: StateUpdate): Promise<void> {
    const scope = this.ownScope('updateState()');
    return scope.updateState(update.state ?? 'PROGRESS', update.meta ?? null);
  }

  /** Sends a custom event with this task's id as `uuid`, when the worker sends task events. */
  sendEvent(type: string, fields: Readonly<Record<string, JsonValue>> = {}): Promise<void> {
    return this.ownScope('sendEvent()').sendEvent?.(type, fields) ?? Promise.resolve();
  }

  /** This task's default calling options (queue, priority, time limits, ...) under `options`. */
  callOptions(options: CallOptions = {}): CallOptions {
    return { ...this.defaultCallOptions(), ...options };
  }

  private ownScope(what: string): TaskScope {
    const scope = requireScope(`${this.name}.${what}`);
    if (scope.request.task !== this.name) {
      throw new ImproperlyConfigured(
        `${this.name}.${what} was used while ${scope.request.task} runs; use currentTask() for the running task`,
      );
    }
    return scope;
  }

  private defaultCallOptions(): CallOptions {
    const o = this.options;
    const out: CallOptions = {};
    if (o.queue !== undefined) out.queue = o.queue;
    if (o.exchange !== undefined) out.exchange = o.exchange;
    if (o.routingKey !== undefined) out.routingKey = o.routingKey;
    if (o.priority !== undefined) out.priority = o.priority;
    if (o.expires !== undefined) out.expires = o.expires;
    if (o.serializer !== undefined) out.serializer = o.serializer;
    if (o.compression !== undefined) out.compression = o.compression;
    if (o.deliveryMode !== undefined) out.deliveryMode = o.deliveryMode;
    if (o.ignoreResult !== undefined) out.ignoreResult = o.ignoreResult;
    if (o.timeLimit != null) out.timeLimit = o.timeLimit;
    if (o.softTimeLimit != null) out.softTimeLimit = o.softTimeLimit;
    return out;
  }
}

/** The context a bound task gets when its function is called directly, outside any worker or eager run. */
function directContext(name: string): TaskContext {
  return {
    name,
    get request(): TaskRequest {
      throw new ImproperlyConfigured(
        `${name} was called directly: it has no request outside a worker or apply()`,
      );
    },
    signal: new AbortController().signal,
    retry: (options = {}) => retryOutsideTask(options),
    updateState: async () => undefined,
    sendEvent: async () => undefined,
  };
}

/** Fails at the call site, as Celery's `typing=True` does, when the arguments cannot fit the function. */
export function checkArity(
  task: { readonly name: string; readonly fn: AnyTaskFn; readonly options: Readonly<TaskOptions> },
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
): void {
  const bound = args.length + Object.keys(kwargs).filter((k) => task.options.params?.includes(k)).length;
  const required = Math.max(0, task.fn.length - (task.options.bind ? 1 : 0));
  if (bound < required) {
    throw new TypeError(`${task.name}() takes at least ${required} argument(s) but ${bound} were given`);
  }
  const params = task.options.params;
  if (params && args.length > params.length && !task.options.acceptsKwargs) {
    throw new TypeError(`${task.name}() takes ${params.length} argument(s) but ${args.length} were given`);
  }
}

/**
 * Binds a received call's args and kwargs onto the task function's positional parameters, as Python would.
 * Throws InvalidTaskError (`invalid-args`) naming the problem when they do not fit.
 */
export function bindArguments(
  name: string,
  fn: AnyTaskFn,
  options: Readonly<TaskOptions>,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
): unknown[] {
  const params = options.params;
  const bound: unknown[] = [...args];
  const provided = new Set(args.keys());
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(kwargs)) {
    const position = params ? params.indexOf(key) : -1;
    if (position === -1) {
      if (!options.acceptsKwargs) {
        const hint = params
          ? `; it accepts ${params.join(', ')}`
          : '; give the task the option params: [...] naming its parameters to accept keyword arguments';
        throw new InvalidTaskError(
          'invalid-args',
          `${name}() got an unexpected keyword argument '${key}'${hint}`,
        );
      }
      extra[key] = value;
    } else if (provided.has(position)) {
      throw new InvalidTaskError('invalid-args', `${name}() got multiple values for argument '${key}'`);
    } else {
      bound[position] = value;
      provided.add(position);
    }
  }
  const kwargsSlot = (options.acceptsKwargs ? 1 : 0) + (options.bind ? 1 : 0);
  if (params && !options.acceptsKwargs && bound.length > params.length) {
    throw new InvalidTaskError(
      'invalid-args',
      `${name}() takes ${params.length} positional argument(s) but ${bound.length} were given`,
    );
  }
  const required = Math.max(0, fn.length - kwargsSlot);
  const missing = Array.from({ length: required }, (_, i) => i).filter((i) => !provided.has(i));
  if (missing.length > 0) {
    const names = missing.map((i) => (params?.[i] ? `'${params[i]}'` : `#${i + 1}`)).join(', ');
    throw new InvalidTaskError(
      'invalid-args',
      `${name}() missing ${missing.length} required positional argument(s): ${names}`,
    );
  }
  const dense = Array.from(bound);
  if (options.acceptsKwargs) {
    dense.length = Math.max(dense.length, params?.length ?? required);
    dense.push(extra);
  }
  return dense;
}

/** `Array.isArray` without narrowing a typed array to `any[]`, for checking values from untyped callers. */
export function isList(value: unknown): boolean {
  return Array.isArray(value);
}
