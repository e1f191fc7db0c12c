/** docs/tasks.md, "Handlers and hooks": task handlers and app hooks, in the order they fire. */
import { Celery } from 'celeriac';

export const app = new Celery('proj', { broker: 'memory://docs-hooks', backend: 'memory://docs-hooks' });

export const order: string[] = [];

app.hooks.on('beforeTaskPublish', ({ headers }) => {
  headers['x-sent-by'] = 'docs'; // hooks may add headers; the task sees them in request.headers
});
app.hooks.on('taskPrerun', ({ taskName }) => void order.push(`taskPrerun ${taskName}`));
app.hooks.on('taskSuccess', ({ result }) => void order.push(`taskSuccess ${String(result)}`));
app.hooks.on('taskPostrun', ({ state }) => void order.push(`taskPostrun ${state}`));

export const resize = app.task('tasks.resize', (width: number) => width / 2, {
  beforeStart: (request) => void order.push(`beforeStart ${request.headers['x-sent-by'] as string}`),
  onSuccess: (retval) => void order.push(`onSuccess ${retval}`),
  onFailure: (error) => void order.push(`onFailure ${String(error)}`),
  afterReturn: (state) => void order.push(`afterReturn ${state}`),
});
