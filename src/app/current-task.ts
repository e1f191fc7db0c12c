/**
 * `currentTask()`: the running task's context from anywhere in its async call tree, for code that does not have
 * the task object (helpers, libraries, tasks registered without `bind: true`). Celery's `current_task` plus
 * `self.request`, `self.retry`, `self.update_state` and `self.send_event`.
 */
import { contextOf, currentTaskScope, requireScope, type TaskContext } from './context.js';
import { retryScope } from './retry.js';

/** The running task's context; throws ImproperlyConfigured outside a task. */
export function currentTask(): TaskContext {
  return contextOf(requireScope('currentTask()'), retryScope);
}

/** The running task's context, or undefined outside a task. */
export function maybeCurrentTask(): TaskContext | undefined {
  const scope = currentTaskScope();
  return scope ? contextOf(scope, retryScope) : undefined;
}
