/**
 * Chords on SQLite (broker and backend in one file) with two worker processes: the header parts are counted in the
 * database by both processes together, one transaction per part, and the body runs once with every result.
 */
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Celery, chord } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { startCli, type RunningProcess } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('sqlite-chord');
const db = `sqlite://${join(dir.path, 'chord.db')}`;
const queue = `chord-${uuid().slice(0, 8)}`;
const APP = 'test/integration/fixtures/sqlite-app.ts';
const env = { CELERIAC_BROKER_URL: db, CELERIAC_RESULT_BACKEND: db };
const workers: RunningProcess[] = [];
const client = new Celery('sqlite-chord-producer', { broker: db, backend: db, taskDefaultQueue: queue });
client.logger = silentLogger();

afterAll(async () => {
  for (const worker of workers) {
    worker.kill('SIGTERM');
    await worker.exited();
  }
  await client.close();
  dir.remove();
});

it('joins a chord of 300 header tasks counted by two worker processes', async () => {
  for (const name of ['sq-a', 'sq-b']) {
    const worker = startCli(['-A', APP, 'worker', '-Q', queue, '-c', '8', '-n', `${name}@%h`, '-l', 'info'], {
      env,
    });
    workers.push(worker);
  }
  await Promise.all(workers.map((w) => w.waitFor(/ ready\./)));
  const add = client.signature<number>('tasks.add');
  const header = Array.from({ length: 300 }, (_, i) => add.clone([i, i]));
  // The body is sent by a worker, routed by the worker's configuration (as in Celery): give it its queue.
  const body = client.signature<[number, number]>('tasks.tsum', [], {}, { queue });
  const result = await chord(header, body).applyAsync();
  const got = await result.get({ timeout: 60 });
  expect(got).toEqual([300, 300 * 299]);
  // Both processes ran header tasks.
  for (const worker of workers) expect(worker.output()).toMatch(/tasks\.add\[[^\]]+\] succeeded/);
}, 90_000);
