/** docs/tasks.md, "Basics" and "The task context": defining tasks, reading the request, bound tasks. */
import { Celery, currentTask, type TaskContext } from 'celeriac';

export const app = new Celery('proj', { broker: 'memory://docs-basics', backend: 'memory://docs-basics' });

// The name is what travels on the wire: Python calls this task as 'tasks.add'.
export const add = app.task('tasks.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });

// Any code running inside a task reaches the running task through currentTask().
export const whoami = app.task('tasks.whoami', () => {
  const { request } = currentTask();
  return `${request.task}[${request.id}] on ${request.hostname}, retries=${request.retries}`;
});

// With bind: true the context is the first argument, as Celery's bind=True passes self.
export const dump = app.task(
  'tasks.dump_context',
  (self: TaskContext, x: number, y: number) => {
    const { id, args, kwargs, headers } = self.request;
    return { id, args, kwargs, tenant: headers['x-tenant'] ?? null, sum: x + y };
  },
  { bind: true },
);
