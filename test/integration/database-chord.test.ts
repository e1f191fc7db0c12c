/**
 * Issue 18: a chord of 1,000 header tasks on the PostgreSQL result backend (Redis broker) with two worker processes
 * and late acks: the header parts are counted in the database's chord tables (no chord_unlock polling), and the
 * body gets every header result exactly once and runs once, also when one worker is SIGKILLed mid-header.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Celery, chord } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { createPgDatabase, type TestDatabase } from '../support/databases.js';
import { startCli, type RunningProcess } from '../support/processes.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

const N = 1_000;
const prefix = testPrefix('db-chord');
const queue = `db-chord-${uuid().slice(0, 8)}`;
const RECORDER_URL = REDIS_URL.replace(/\/\d+$/, '/11');
const APP = 'test/integration/fixtures/canvas-app.ts';
const redis = testClient();
const recorder = testClient(RECORDER_URL);
const workers: RunningProcess[] = [];
let db: TestDatabase;
let client: Celery;

beforeAll(async () => {
  db = await createPgDatabase('chord');
  client = new Celery('db-chord-producer', {
    broker: REDIS_URL,
    backend: db.url,
    taskDefaultQueue: queue,
    brokerTransportOptions: { global_keyprefix: prefix },
    resultExpires: 600,
  });
  client.logger = silentLogger();
});

afterAll(async () => {
  for (const worker of workers) {
    worker.kill('SIGTERM');
    await worker.exited();
  }
  await client.close();
  await deletePrefix(redis, prefix);
  await deletePrefix(recorder, prefix);
  redis.disconnect();
  recorder.disconnect();
  await db.drop();
});

function startWorker(name: string): RunningProcess {
  const env = {
    CANVAS_BROKER: REDIS_URL,
    CANVAS_BACKEND: db.url,
    CANVAS_PREFIX: prefix,
    CANVAS_QUEUE: queue,
    CANVAS_RECORDER: RECORDER_URL,
  };
  const worker = startCli(['-A', APP, 'worker', '-Q', queue, '-c', '10', '-n', `${name}@%h`, '-l', 'info'], {
    env,
  });
  workers.push(worker);
  return worker;
}

it('gives the body every one of 1,000 header results exactly once, with a worker SIGKILLed mid-header', async () => {
  const [a, b] = [startWorker('dbchord-a'), startWorker('dbchord-b')];
  await Promise.all([a.waitFor(/ ready\./), b.waitFor(/ ready\./)]);
  const work = client.signature<number>('canvas.work');
  const collect = client.signature<number>('canvas.collect');
  const header = Array.from({ length: N }, (_, i) => work.clone([i]));
  const result = await chord(header, collect.clone()).applyAsync();
  await expect
    .poll(() => recorder.hlen(`${prefix}runs`), { timeout: 60_000, interval: 50 })
    .toBeGreaterThan(N / 5);
  a.kill('SIGKILL');
  await a.exited();
  expect(await recorder.hlen(`${prefix}runs`)).toBeLessThan(N);
  expect(await result.get({ timeout: 120 })).toBe((N * (N - 1)) / 2);
  const collected = await recorder.lrange(`${prefix}collected`, 0, -1);
  expect(collected).toHaveLength(1);
  expect(JSON.parse(collected[0]!)).toEqual(Array.from({ length: N }, (_, i) => i));
  expect(Object.keys(await recorder.hgetall(`${prefix}runs`))).toHaveLength(N);
  // Counted in the database, and the chord's bookkeeping is gone once the body was sent.
  const pgClient = new pg.Client({ connectionString: db.url.replace(/^db\+/, '') });
  await pgClient.connect();
  const { rows } = await pgClient.query(
    'SELECT (SELECT count(*) FROM celeriac_chord)::int AS chords, (SELECT count(*) FROM celeriac_chord_part)::int AS parts',
  );
  await pgClient.end();
  expect(rows[0]).toEqual({ chords: 0, parts: 0 });
}, 180_000);
