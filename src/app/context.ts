/**
 * The running task's request and methods, reachable from plain arrow functions through AsyncLocalStorage
 * (Celery's `self.request` / `self.retry` without `bind=True`). Set by the worker (and by eager runs) around each
 * task call; `currentTask()` reads it, and tasks registered with `bind: true` receive the same object as their
 * first argument.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ImproperlyConfigured } from '../errors.js';
import type { Embed } from '../protocol/message.js';
import type { JsonValue } from '../types.js';
import type { RetryOptions } from './retry.js';

export interface DeliveryInfo {
  readonly exchange: string;
  readonly routingKey: string;
  readonly priority: number | null;
  readonly redelivered: boolean;
}

/** What a task can know about its own call, as Celery's `Task.request` (`celery/app/task.py` Context). */
export interface TaskRequest {
  readonly id: string;
  readonly task: string;
  readonly args: readonly JsonValue[];
  readonly kwargs: Readonly<Record<string, JsonValue>>;
  readonly retries: number;
  readonly eta: Date | null;
  readonly expires: Date | null;
  readonly group: string | null;
  readonly groupIndex: number | null;
  readonly rootId: string | null;
  readonly parentId: string | null;
  /** The worker's node name, `celery@host`. */
  readonly hostname: string;
  readonly deliveryInfo: DeliveryInfo;
  readonly correlationId: string | null;
  readonly replyTo: string | null;
  /** Every message header, custom ones included (Celery merges them into the request). */
  readonly headers: Readonly<Record<string, JsonValue>>;
  readonly timelimit: readonly [number | null, number | null];
  readonly origin: string | null;
  readonly ignoreResult: boolean;
  readonly isEager: boolean;
  /** The display name the task was sent with (`shadow` calling option), or null. */
  readonly shadow: string | null;
  /** Callbacks, errbacks, the rest of a chain and a chord body, as received. */
  readonly embed: Embed;
  /** The queue the message came from. */
  readonly queue: string | null;
}

/** A custom state to store for the running task (`updateState`). */
export interface StateUpdate {
  /** Any state name; `PROGRESS` is the usual one. Default `PROGRESS`. */
  readonly state?: string;
  /** Stored as the result while the task is in this state; `AsyncResult.result()` returns it. */
  readonly meta?: unknown;
}

/** What the worker (or an eager run) puts in scope while a task runs. */
export interface TaskScope {
  readonly request: TaskRequest;
  /** Aborted at the soft time limit (reason: SoftTimeLimitExceeded) or when the task is revoked with terminate. */
  readonly signal: AbortSignal;
  /** The running task's own options: retry defaults (`maxRetries`, `defaultRetryDelay`). */
  readonly options: Readonly<RetryDefaults>;
  /** Stores a custom state (`updateState`); provided by whoever runs the task. */
  readonly updateState: (state: string, meta: unknown) => Promise<void>;
  /** Sends a custom event (`sendEvent`); a no-op where events are off. */
  readonly sendEvent?: (type: string, fields: Readonly<Record<string, JsonValue>>) => Promise<void>;
  /**
   * Fails the running task with an error that escaped its own flow (thrown from its timer, a rejection it never
   * handled, `process.exit()`): set by a worker's in-process pool (worker/containment.ts), inherited by eager calls
   * made inside it. False once the task has finished. One scope (one AsyncLocalStorage) serves both, because every
   * enabled AsyncLocalStorage costs each promise and callback of the process.
   */
  readonly failEscaped?: ((error: unknown, how: string) => boolean) | undefined;
}

/** The task options `retry()` reads. */
export interface RetryDefaults {
  readonly maxRetries?: number | null;
  readonly defaultRetryDelay?: number;
}

/**
 * The running task, as a task function sees it: `currentTask()` returns it, and a task registered with
 * `bind: true` receives it as its first argument (Celery's bound `self`).
 */
export interface TaskContext {
  readonly name: string;
  readonly request: TaskRequest;
  /** Aborted at the soft time limit; pass it to fetch(), timers and streams so the task stops in time. */
  readonly signal: AbortSignal;
  /**
   * Re-sends this task (same id, `retries + 1`) and ends the current run: it always throws, so
   * `throw ctx.retry(...)` and `ctx.retry(...)` are the same. Throws MaxRetriesExceededError (or `exc`) once
   * `retries` would pass `maxRetries`.
   */
  retry(options?: RetryOptions): never;
  /** Stores a custom state such as PROGRESS, readable by `AsyncResult` while the task runs. */
  updateState(update: StateUpdate): Promise<void>;
  /** Sends a custom event (for example `task-progress`) to monitors, when the worker sends task events. */
  sendEvent(type: string, fields?: Readonly<Record<string, JsonValue>>): Promise<void>;
}

const storage = new AsyncLocalStorage<TaskScope>();

export function runInTaskScope<T>(scope: TaskScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/** The scope of the task running in this async context, if any. */
export function currentTaskScope(): TaskScope | undefined {
  return storage.getStore();
}

/** Builds the TaskContext of a scope; `retry` is supplied by retry.ts to keep this module free of cycles. */
export function contextOf(
  scope: TaskScope,
  retry: (scope: TaskScope, options: RetryOptions) => never,
): TaskContext {
  return {
    name: scope.request.task,
    request: scope.request,
    signal: scope.signal,
    retry: (options = {}) => retry(scope, options),
    updateState: (update) => scope.updateState(update.state ?? 'PROGRESS', update.meta ?? null),
    sendEvent: (type, fields = {}) => scope.sendEvent?.(type, fields) ?? Promise.resolve(),
  };
}

/** The scope of the running task, or an error naming the method that needed it. */
export function requireScope(what: string): TaskScope {
  const scope = storage.getStore();
  if (!scope) {
    throw new ImproperlyConfigured(
      `${what} is only available while a task runs (inside the task function, in a worker or an eager call)`,
    );
  }
  return scope;
}
