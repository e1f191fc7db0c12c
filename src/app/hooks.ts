/**
 * Hooks: Celery's signals as one typed, ordered mechanism on the app. Handlers run in the order they were added;
 * async handlers are awaited; a throwing handler is logged by the caller and does not stop the others.
 */

/** Payloads of every hook, by name. Names mirror `celery/signals.py` in camelCase. */
export interface HookPayloads {
  beforeTaskPublish: {
    taskId: string;
    taskName: string;
    headers: Record<string, unknown>;
    routingKey: string;
    exchange: string;
  };
  afterTaskPublish: { taskId: string; taskName: string; routingKey: string; exchange: string };
  taskReceived: { taskId: string; taskName: string };
  taskPrerun: {
    taskId: string;
    taskName: string;
    args: readonly unknown[];
    kwargs: Readonly<Record<string, unknown>>;
  };
  taskPostrun: {
    taskId: string;
    taskName: string;
    args: readonly unknown[];
    kwargs: Readonly<Record<string, unknown>>;
    retval: unknown;
    state: string;
  };
  taskSuccess: { taskId: string; taskName: string; result: unknown };
  taskFailure: {
    taskId: string;
    taskName: string;
    error: unknown;
    args: readonly unknown[];
    kwargs: Readonly<Record<string, unknown>>;
  };
  taskRetry: { taskId: string; taskName: string; reason: unknown };
  taskRevoked: { taskId: string; taskName: string; terminated: boolean; expired: boolean };
  taskRejected: { taskId: string | undefined; reason: string };
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
      if (current) current.splice(current.indexOf(handler), 1);
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
