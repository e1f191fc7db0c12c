// docs/tasks.md, "Testing": a worker fixture for vitest (Celery's celery_app and celery_worker fixtures).
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createTestApp, startTestWorker, type TestWorker } from 'celeriac/testing';
import { defineTasks } from './tasks.js';

let app: ReturnType<typeof createTestApp>;
let tasks: ReturnType<typeof defineTasks>;
let worker: TestWorker;

beforeEach(async () => {
  app = createTestApp(); // in-memory broker and backend, private to this app
  tasks = defineTasks(app);
  worker = await startTestWorker(app); // a real worker in this process
});
afterEach(() => worker.stop());

it('adds', async () => {
  const result = await tasks.add.delay(2, 2);
  expect(await result.get({ timeout: 5 })).toBe(4);
});

it('retries through a real worker', async () => {
  const result = await tasks.flaky.delay();
  expect(await result.get({ timeout: 5 })).toBe('recovered');
});

it('runs eagerly without any worker', async () => {
  const eager = createTestApp({ taskAlwaysEager: true, taskEagerPropagates: true });
  const { add } = defineTasks(eager);
  expect(await (await add.delay(2, 3)).get()).toBe(5);
});
