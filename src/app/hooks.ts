/**
 * Hooks: Celery's signals (`celery/signals.py`) as one typed, ordered mechanism on the app. Handlers run in the
 * order they were added; async handlers are awaited; a throwing handler is logged by the caller and does not stop
 * the others or change the task's outcome. docs/tasks.md lists when each one fires.
 */
import type { Retry } from '../errors.js';
import type { TaskRequest } from './context.js';

/** Payloads of every hook, by name. Names mirror `celery/signals.py` in camelCase. */
export interface HookPayloads {
  /**
   * Before a task message is published. `headers` and `properties` are the message's own: a handler may add
   * headers (they reach the task as `request.headers`).
   */
  beforeTaskPublish: {
    taskId: string;
    taskName: string;
    headers: Record<string, unknown>;
    properties: Record<string, unknown>;
    routingKey: string;
    exchange: string;
  };
  /** After the broker has the message. */
  afterTaskPublish: { taskId: string; taskName: string; routingKey: string; exchange: string };
  /** A worker received a valid task message (after the expiry check, before ETA and rate-limit waits). */
  taskReceived: { taskId: string; taskName: string; request: TaskRequest };
  /** Right before the task runs. */
  taskPrerun: {
    taskId: string;
    taskName: string;
    args: readonly unknown[];
    kwargs: Readonly<Record<string, unknown>>;
    request: TaskRequest;
  };
  /** After the task ran, whatever the outcome; `state` is SUCCESS, FAILURE, RETRY, IGNORED or REJECTED. */
  taskPostrun: {
    taskId: string;
    taskName: string;
    args: readonly unknown[];
    kwargs: Readonly<Record<string, unknown>>;
    retval: unknown;
    state: string;
    request: TaskRequest;
  };
  taskSuccess: { taskId: string; taskName: string; result: unknown; request: TaskRequest };
  taskFailure: {
    taskId: string;
    taskName: string;
    error: unknown;
    args: readonly unknown[];
    kwargs: Readonly<Record<string, unknown>>;
    traceback: string | null;
    request: TaskRequest;
  };
  /** The task called `retry()`: its new message is already sent. */
  taskRetry: { taskId: string; taskName: string; reason: Retry; request: TaskRequest };
  /** A task was discarded without running (expired, or revoked). */
  taskRevoked: {
    taskId: string;
    taskName: string;
    terminated: boolean;
    expired: boolean;
    signum: string | null;
    request: TaskRequest;
  };
  /**
   * A message was rejected: an invalid message (`reason` names why), or a task that threw `Reject`
   * (`requeue` says whether it went back to its queue).
   */
  taskRejected: { taskId: string | undefined; reason: string; requeue: boolean };
  /** A message named a task this worker does not have. */
  taskUnknown: { taskId: string | undefined; taskName: string };
  workerInit: { hostname: string };
  workerReady: { hostname: string };
  workerShuttingDown: { hostname: string; how: 'warm' | 'cold' };
  workerShutdown: { hostname: string };
}

export type HookName = keyof HookPayloads;
export type HookHandler<K extends HookName> = (payload: HookPayloads[K]) => void | Promise<void>;

export class Hooks {
  private readonly handlers = new Map<HookName, HookHandler<never>[]>();

  /** Adds a handler; returns a function that removes it. */
  on<K extends HookName>(name: K, handler: HookHandler<K>): () => void {
    const list = this.handlers.get(name) ?? [];
    list.push(handler);
    this.handlers.set(name, list);
    return () => {
      const current = this.handlers.get(name);
      const index = current?.indexOf(handler) ?? -1;
      if (current && index !== -1) current.splice(index, 1);
    };
  }

  /** True when something listens: lets hot paths skip building a payload nobody reads. */
  has(name: HookName): boolean {
    return (this.handlers.get(name)?.length ?? 0) > 0;
  }

  /** Runs every handler in order; collects their errors and returns them instead of throwing. */
  async emit<K extends HookName>(name: K, payload: HookPayloads[K]): Promise<unknown[]> {
    const list = this.handlers.get(name);
    if (!list || list.length === 0) return [];
    const errors: unknown[] = [];
    for (const handler of [...list]) {
      try {
        await (handler as HookHandler<K>)(payload);
      } catch (error) {
        errors.push(error);
      }
    }
    return errors;
  }
}
