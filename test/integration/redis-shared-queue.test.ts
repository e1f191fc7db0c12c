/**
 * Acceptance (issue 3): two Celeriac workers and one Python Celery worker share a queue of 10,000 tasks, sent by a
 * Celeriac producer and a Python producer. Every task runs exactly once (counted per task id in a recorder outside
 * the broker under test) and every result is readable from both languages.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { startCli, type RunningProcess } from '../support/processes.js';
import { runPythonPlan, startPythonWorker, type PythonWorker } from '../support/python.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

const N = 10_000;
const FROM_PYTHON = 2_000;
const prefix = testPrefix('shared-queue');
const queue = `shared-${uuid().slice(0, 8)}`;
const RECORDER_URL = REDIS_URL.replace(/\/\d+$/, '/11');
const env = {
  INTEROP_BROKER: REDIS_URL,
  INTEROP_PREFIX: prefix,
  INTEROP_QUEUE: queue,
  INTEROP_RECORDER: RECORDER_URL,
  INTEROP_RECORD_PREFIX: prefix,
  INTEROP_PREFETCH: '4',
};
const APP = 'test/interop/fixtures/interop-app.ts';
const redis = testClient();
const recorder = testClient(RECORDER_URL);
const workers: RunningProcess[] = [];
let python: PythonWorker | undefined;

const client = new Celery('shared-producer', {
  broker: REDIS_URL,
  backend: REDIS_URL,
  taskDefaultQueue: queue,
  brokerTransportOptions: { global_keyprefix: prefix },
  resultExpires: 600,
});
client.logger = silentLogger();

afterAll(async () => {
  for (const worker of workers) {
    worker.kill('SIGTERM');
    await worker.exited();
  }
  await python?.stop();
  await client.close();
  await deletePrefix(redis, prefix);
  await deletePrefix(recorder, prefix);
  redis.disconnect();
  recorder.disconnect();
});

async function sendFromCeleriac(from: number, to: number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = from; start < to; start += 500) {
    const batch = Array.from({ length: Math.min(500, to - start) }, (_, k) => start + k);
    const results = await Promise.all(batch.map((i) => client.sendTask('interop.record', [i])));
    ids.push(...results.map((r) => r.id));
  }
  return ids;
}

describe('a queue shared by two Celeriac workers and a Python worker', () => {
  it('runs each of 10,000 tasks exactly once, with results both languages read', async () => {
    for (const name of ['ts-a', 'ts-b']) {
      const worker = startCli(
        ['-A', APP, 'worker', '-Q', queue, '-c', '20', '-n', `${name}@%h`, '-l', 'info'],
        { env },
      );
      workers.push(worker);
    }
    python = await startPythonWorker({
      env,
      queues: [queue],
      name: `py-${uuid().slice(0, 6)}`,
      pool: 'threads',
      concurrency: 4,
    });
    await Promise.all(workers.map((w) => w.waitFor(/ ready\./)));

    const [fromPython, fromCeleriac] = await Promise.all([
      runPythonPlan(
        {
          send: Array.from({ length: FROM_PYTHON }, (_, k) => ({
            ref: String(k),
            task: 'interop.record',
            args: [N - FROM_PYTHON + k],
          })),
        },
        env,
      ),
      sendFromCeleriac(0, N - FROM_PYTHON),
    ]);
    const ids = [...fromCeleriac, ...Object.values(fromPython.sent).map((s) => s.id)];
    expect(new Set(ids).size).toBe(N);

    await expect.poll(() => recorder.hlen(`${prefix}runs`), { timeout: 120_000, interval: 500 }).toBe(N);
    const runs = await recorder.hgetall(`${prefix}runs`);
    expect(Object.keys(runs).sort()).toEqual([...ids].sort());
    expect(Object.values(runs).filter((count) => count !== '1')).toEqual([]);
    const by = await recorder.hgetall(`${prefix}by`);
    expect(Number(by.ts) + Number(by.py)).toBe(N);
    expect(Number(by.ts)).toBeGreaterThan(0);
    expect(Number(by.py)).toBeGreaterThan(0);

    // Every result, read by Celeriac...
    const backend = await client.getBackend();
    await expect
      .poll(
        async () => {
          const metas = await Promise.all(ids.map((id) => backend.get(id)));
          return metas.filter((m) => m?.status === 'SUCCESS').length;
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe(N);
    const values = await Promise.all(ids.slice(0, N - FROM_PYTHON).map((id) => client.AsyncResult(id).get()));
    expect(values).toEqual(Array.from({ length: N - FROM_PYTHON }, (_, i) => i));
    // ... and by Python.
    const read = await runPythonPlan({ read: ids.map((id) => ({ id })) }, env);
    expect(Object.values(read.read).filter((r) => r.status === 'SUCCESS').length).toBe(N);
    // Nothing left held: every delivery was acknowledged (Python's acks may trail its results a little).
    await expect.poll(() => redis.hlen(`${prefix}unacked`), { timeout: 10_000 }).toBe(0);
  });
});
