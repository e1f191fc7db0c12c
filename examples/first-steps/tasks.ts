// First steps with Celeriac: the module from docs/getting-started.md.
import { Celery } from 'celeriac';

export const app = new Celery('tasks', {
  broker: process.env.CELERIAC_BROKER_URL ?? 'sqlite://celeriac.db',
  backend: process.env.CELERIAC_RESULT_BACKEND ?? 'sqlite://celeriac.db',
});

export const add = app.task('tasks.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
