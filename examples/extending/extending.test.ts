/** Runs the example of docs/extending.md against a real worker, and checks that other apps do not know it. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Celery } from 'celeriac';
import { silentLogger, startTestWorker, type TestWorker } from 'celeriac/testing';
import * as extending from './extending.js';

let worker: TestWorker;
beforeAll(async () => {
  extending.app.logger = silentLogger();
  worker = await startTestWorker(extending.app);
});
afterAll(() => worker.stop());

it('sends and runs tasks with a serializer registered on the app', async () => {
  expect(await extending.sendDates()).toBe(60_000);
});

it('leaves other apps as they were', () => {
  expect(
    () => new Celery('other', { broker: 'memory://docs-extending-other', acceptContent: ['v8'] }),
  ).toThrow(/unknown serializer "v8"/);
});

it('builds a worker on a custom pool', () => {
  expect(extending.inlineWorker().poolName).toBe('inline');
});
