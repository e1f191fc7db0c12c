/**
 * Acceptance (issue 3; reliability battery B13, Celery's M14): tasks whose countdown is longer than the visibility
 * timeout (2 s here), held by a Celeriac worker while a Python Celery worker and another Celeriac worker start
 * (both restore stale unacknowledged messages at start-up), run exactly once: the holder keeps renewing their
 * leases, so nobody restores them. Celery 5.2.6 runs every one of them twice in this situation.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Celery, Worker } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { startCli, type RunningProcess } from '../support/processes.js';
import { startPythonWorker, type PythonWorker } from '../support/python.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

const VT = 2;
const COUNTDOWN = 7;
const prefix = testPrefix('eta-lease');
const queue = `eta-${uuid().slice(0, 8)}`;
const RECORDER_URL = REDIS_URL.replace(/\/\d+$/, '/11');
const env = {
  INTEROP_BROKER: REDIS_URL,
  INTEROP_PREFIX: prefix,
  INTEROP_QUEUE: queue,
  INTEROP_VT: String(VT),
  INTEROP_RECORDER: RECORDER_URL,
  INTEROP_RECORD_PREFIX: prefix,
  INTEROP_PREFETCH: '4',
};
const APP = 'test/interop/fixtures/interop-app.ts';
const redis = testClient();
const recorder = testClient(RECORDER_URL);
const workers: RunningProcess[] = [];
let python: PythonWorker | undefined;
const client = new Celery('eta-producer', {
  broker: REDIS_URL,
  backend: REDIS_URL,
  taskDefaultQueue: queue,
  brokerTransportOptions: { global_keyprefix: prefix, visibility_timeout: VT },
  resultExpires: 600,
});
client.logger = silentLogger();

function celeriacWorker(name: string): RunningProcess {
  const worker = startCli(['-A', APP, 'worker', '-Q', queue, '-c', '4', '-n', `${name}@%h`, '-l', 'info'], {
    env,
  });
  workers.push(worker);
  return worker;
}

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

describe('an ETA longer than the visibility timeout', () => {
  it('runs exactly once while other workers (Python and Celeriac) start and restore', async () => {
    const holder = celeriacWorker('holder');
    await holder.waitFor(/ ready\./);
    const results = await Promise.all(
      [1, 2, 3].map((i) => client.sendTask('interop.record', [i], {}, { countdown: COUNTDOWN })),
    );
    for (const result of results)
      await holder.waitFor(new RegExp(`interop\\.record\\[${result.id}\\] received`));
    const tags = await redis.zrange(`${prefix}unacked_index`, 0, -1, 'WITHSCORES');
    expect(tags.length).toBe(6);
    const fetchedAt = Math.max(...tags.filter((_, i) => i % 2 === 1).map(Number));
    // Past the visibility timeout: without renewals, any starting worker would restore all three now.
    await expect
      .poll(async () => Number((await redis.zrange(`${prefix}unacked_index`, 0, 0, 'WITHSCORES'))[1]), {
        timeout: 10_000,
        interval: 200,
      })
      .toBeGreaterThan(fetchedAt + VT + 0.5);

    const [py] = await Promise.all([
      startPythonWorker({ env, queues: [queue], name: `py-${uuid().slice(0, 6)}` }),
      celeriacWorker('late').waitFor(/ ready\./),
    ]);
    python = py;

    const values = await Promise.all(results.map((r) => r.get({ timeout: 30 })));
    expect(values).toEqual([1, 2, 3]);
    const runs = await recorder.hgetall(`${prefix}runs`);
    expect(runs).toEqual(Object.fromEntries(results.map((r) => [r.id, '1'])));
    expect(await recorder.hgetall(`${prefix}by`)).toEqual({ ts: '3' });
    // No copy is left anywhere that could run later: not queued, not held by any worker.
    expect(await redis.llen(`${prefix}${queue}`)).toBe(0);
    await expect.poll(() => redis.hlen(`${prefix}unacked`)).toBe(0);
    for (const result of results) expect(python.output()).not.toContain(result.id);
  });

  it('is given back at once by a warm shutdown, to run elsewhere later', async () => {
    const app = new Celery('eta-holder', {
      broker: REDIS_URL,
      backend: REDIS_URL,
      brokerTransportOptions: { global_keyprefix: prefix, visibility_timeout: VT },
    });
    app.logger = silentLogger();
    app.task('interop.add', (x: number, y: number) => x + y);
    const backQueue = `${queue}-back`;
    const worker = new Worker(app, { queues: [backQueue], logger: silentLogger() });
    await worker.start();
    const later = await client.sendTask('interop.add', [1, 2], {}, { queue: backQueue, countdown: 3600 });
    await expect.poll(() => redis.hlen(`${prefix}unacked`)).toBe(1);
    expect(await redis.llen(`${prefix}${backQueue}`)).toBe(0);
    await worker.stop();
    expect(await redis.hlen(`${prefix}unacked`)).toBe(0);
    const [back] = await redis.lrange(`${prefix}${backQueue}`, 0, -1);
    const envelope = JSON.parse(back!) as { headers: { id: string; redelivered?: boolean } };
    expect(envelope.headers).toMatchObject({ id: later.id, redelivered: true });
  });
});
