/**
 * Calling a task function for a request: binding Python-style kwargs, the task scope (request, abort signal,
 * updateState) around the call. Used by the in-process pools, by pool children and by eager runs.
 */
import type { TaskRequest, TaskScope } from './context.js';
import { runInTaskScope } from './context.js';
import { bindArguments, type AnyTaskFn, type TaskOptions } from './task.js';

export interface Invocation {
  readonly name: string;
  readonly fn: AnyTaskFn;
  readonly options: Readonly<TaskOptions>;
  readonly request: TaskRequest;
  readonly signal: AbortSignal;
  readonly updateState: TaskScope['updateState'];
}

/** Runs the task function; resolves with its return value or rejects with what it threw. */
export async function invokeTask(invocation: Invocation): Promise<unknown> {
  const { request } = invocation;
  const bound = bindArguments(
    invocation.name,
    invocation.fn,
    invocation.options,
    request.args,
    request.kwargs,
  );
  const scope: TaskScope = { request, signal: invocation.signal, updateState: invocation.updateState };
  return runInTaskScope(scope, () => invocation.fn(...bound));
}
