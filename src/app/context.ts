/**
 * The running task's request, reachable from plain arrow functions through AsyncLocalStorage
 * (Celery's `self.request` without `bind=True`). Set by the worker (and by eager runs) around each task call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Embed } from '../protocol/message.js';
import type { JsonValue } from '../types.js';

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
  /** Callbacks, errbacks, the rest of a chain and a chord body, as received. */
  readonly embed: Embed;
  /** The queue the message came from. */
  readonly queue: string | null;
}

/** What the worker (or an eager run) puts in scope while a task runs. */
export interface TaskScope {
  readonly request: TaskRequest;
  /** Aborted at the soft time limit (reason: SoftTimeLimitExceeded) or when the task is revoked with terminate. */
  readonly signal: AbortSignal;
  /** Stores a custom state (`updateState`); provided by whoever runs the task. */
  readonly updateState: (state: string, meta: unknown) => Promise<void>;
}

const storage = new AsyncLocalStorage<TaskScope>();

export function runInTaskScope<T>(scope: TaskScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/** The scope of the task running in this async context, if any. */
export function currentTaskScope(): TaskScope | undefined {
  return storage.getStore();
}
