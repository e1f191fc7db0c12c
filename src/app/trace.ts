/**
 * Calling a task function for a request: binding Python-style kwargs, the task scope (request, abort signal,
 * updateState, sendEvent) around the call, the bound context for `bind: true` tasks, and `autoretryFor`.
 * Used by the in-process pools, by pool children and by eager runs.
 */
import type { JsonValue } from '../types.js';
import { contextOf, currentTaskScope, runInTaskScope, type TaskRequest, type TaskScope } from './context.js';
import { autoretry, retryScope } from './retry.js';
import { bindArguments, type AnyTaskFn, type TaskOptions } from './task.js';

export interface Invocation {
  readonly name: string;
  readonly fn: AnyTaskFn;
  readonly options: Readonly<TaskOptions>;
  readonly request: TaskRequest;
  readonly signal: AbortSignal;
  readonly updateState: TaskScope['updateState'];
  readonly sendEvent?:
    ((type: string, fields: Readonly<Record<string, JsonValue>>) => Promise<void>) | undefined;
  /** See TaskScope.failEscaped; without it, a call made inside a contained task stays in that task's containment. */
  readonly failEscaped?: TaskScope['failEscaped'];
}

/** Runs the task function; resolves with its return value or rejects with what it threw. */
export async function invokeTask(invocation: Invocation): Promise<unknown> {
  const { request, options } = invocation;
  const bound = bindArguments(invocation.name, invocation.fn, options, request.args, request.kwargs);
  const scope: TaskScope = {
    request,
    // Read on first use: the pool may make the signal lazily.
    get signal() {
      return invocation.signal;
    },
    options,
    updateState: invocation.updateState,
    ...(invocation.sendEvent ? { sendEvent: invocation.sendEvent } : {}),
    failEscaped: invocation.failEscaped ?? currentTaskScope()?.failEscaped,
  };
  // The arguments come off the wire: bindArguments checked them against the task's parameters, so the function
  // is called here as one taking any values.
  const fn = invocation.fn as (...args: unknown[]) => unknown;
  return runInTaskScope(scope, async () => {
    try {
      if (options.bind) return await fn(contextOf(scope, retryScope), ...bound);
      return await fn(...bound);
    } catch (error) {
      autoretry(scope, options, error);
      throw error;
    }
  });
}
