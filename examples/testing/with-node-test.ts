// docs/tasks.md, "Testing": the same fixtures with node:test (run: node --import tsx --test with-node-test.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestApp, startTestWorker, type TestWorker } from 'celeriac/testing';
import { defineTasks } from './tasks.js';

const app = createTestApp();
const { add } = defineTasks(app);
let worker: TestWorker;

before(async () => {
  worker = await startTestWorker(app);
});
after(() => worker.stop());

void test('adds through a worker', async () => {
  const result = await add.delay(20, 22);
  assert.equal(await result.get({ timeout: 5 }), 42);
});
