import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../lifecycle/logger.js';
import { uuid } from '../protocol/ids.js';
import { Worker } from '../worker/worker.js';
import { Celery } from './celery.js';

function makeApp(options: ConstructorParameters<typeof Celery>[1] = {}): Celery {
  const ns = uuid();
  const app = new Celery('test', { broker: `memory://${ns}`, backend: `memory://${ns}`, ...options });
  app.logger = silentLogger();
  return app;
}

describe('batch sending (sendTasks, applyAsyncMany)', () => {
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });

  it('sends every call and returns the results in order', async () => {
    const app = makeApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    app.task('tasks.mul', (x: number, y: number) => x * y);
    const published: string[] = [];
    app.hooks.on('afterTaskPublish', ({ taskName }) => void published.push(taskName));
    const worker = new Worker(app, { logger: silentLogger(), concurrency: 8 });
    workers.push(worker);
    await worker.start();
    const many = await add.applyAsyncMany([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(await Promise.all(many.map((r) => r.get({ timeout: 5 })))).toEqual([3, 7, 11]);
    const mixed = await app.sendTasks([
      { name: 'tasks.mul', args: [2, 5] },
      { name: 'tasks.add', args: [1, 1], options: { taskId: 'fixed-id' } },
    ]);
    expect(mixed[1]!.id).toBe('fixed-id');
    expect(await Promise.all(mixed.map((r) => r.get({ timeout: 5 })))).toEqual([10, 2]);
    expect(published).toEqual(['tasks.add', 'tasks.add', 'tasks.add', 'tasks.mul', 'tasks.add']);
    expect(await app.sendTasks([])).toEqual([]);
  });

  it('rejects bad input before sending anything, naming what was wrong', async () => {
    const app = makeApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    await expect(add.applyAsyncMany([[1, 2], 3 as unknown as [number, number]])).rejects.toThrow(
      /entry 1 must be an array/,
    );
    await expect(add.applyAsyncMany([[1, 2], [1]] as unknown as [number, number][])).rejects.toThrow(
      /tasks\.add/,
    );
    await expect(app.sendTasks([{ name: '' }])).rejects.toThrow(/call 0 needs a task name/);
    await expect(app.sendTasks('nope' as never)).rejects.toThrow(/takes an array/);
    expect(await app.purge()).toBe(0);
  });

  it('runs each call here with taskAlwaysEager', async () => {
    const app = makeApp({ taskAlwaysEager: true });
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const results = await add.applyAsyncMany([
      [1, 1],
      [2, 2],
    ]);
    expect(await Promise.all(results.map((r) => r.get()))).toEqual([2, 4]);
  });
});
