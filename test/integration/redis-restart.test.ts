/**
 * Acceptance (issue 3; reliability battery B11): Redis is killed (-9) and restarted in the middle of 5,000 tasks.
 * The worker process reconnects by itself and all 5,000 complete, none lost. A private redis-server (append-only
 * file, fsync always) is used, so the shared one is never disturbed; runs are recorded on the shared one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { startCli, type RunningProcess } from '../support/processes.js';
import { deletePrefix, PrivateRedis, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

const N = 5_000;
const prefix = testPrefix('restart');
const queue = `restart-${uuid().slice(0, 8)}`;
const RECORDER_URL = REDIS_URL.replace(/\/\d+$/, '/11');
const APP = 'test/interop/fixtures/interop-app.ts';
const recorder = testClient(RECORDER_URL);
let redis: PrivateRedis | undefined;
let worker: RunningProcess | undefined;
let client: Celery | undefined;

afterAll(async () => {
  worker?.kill('SIGTERM');
  await worker?.exited();
  await client?.close();
  await redis?.stop();
  await deletePrefix(recorder, prefix);
  recorder.disconnect();
});

describe('Redis restarted under load', () => {
  it('reconnects by itself and completes all 5,000 tasks', async () => {
    redis = await PrivateRedis.start();
    const env = {
      INTEROP_BROKER: redis.url,
      INTEROP_QUEUE: queue,
      INTEROP_VT: '3',
      INTEROP_RECORDER: RECORDER_URL,
      INTEROP_RECORD_PREFIX: prefix,
      INTEROP_TASK_MS: '5',
    };
    client = new Celery('restart-producer', {
      broker: redis.url,
      backend: redis.url,
      taskDefaultQueue: queue,
      resultExpires: 600,
    });
    client.logger = silentLogger();
    const ids: string[] = [];
    for (let start = 0; start < N; start += 500) {
      const batch = Array.from({ length: 500 }, (_, k) => start + k);
      const sent = await Promise.all(
        batch.map((i) => client!.sendTask('interop.record', [i], {}, { ignoreResult: false })),
      );
      ids.push(...sent.map((r) => r.id));
    }
    worker = startCli(['-A', APP, 'worker', '-Q', queue, '-c', '10', '-l', 'info'], { env });
    await worker.waitFor(/ ready\./);

    await expect
      .poll(() => recorder.hlen(`${prefix}runs`), { timeout: 30_000, interval: 50 })
      .toBeGreaterThan(N / 5);
    await redis.kill();
    await redis.launch();
    await worker.waitFor(/Reconnected to Redis/);

    await expect.poll(() => recorder.hlen(`${prefix}runs`), { timeout: 60_000, interval: 500 }).toBe(N);
    const runs = await recorder.hgetall(`${prefix}runs`);
    expect(Object.keys(runs).sort()).toEqual([...ids].sort());
    // At least once: a task running while Redis was away may run again, never more than the ones in flight.
    const repeated = Object.values(runs).filter((count) => count !== '1').length;
    expect(repeated).toBeLessThanOrEqual(10 * 4);
    // Every result stored as SUCCESS: read with MGET, 500 keys at a time (Celery's key for a task's result).
    const results = testClient(redis.url);
    const succeeded = async (): Promise<number> => {
      let count = 0;
      for (let i = 0; i < ids.length; i += 500) {
        const values = await results.mget(...ids.slice(i, i + 500).map((id) => `celery-task-meta-${id}`));
        for (const value of values) {
          if (value !== null && (JSON.parse(value) as { status?: string }).status === 'SUCCESS') count++;
        }
      }
      return count;
    };
    try {
      await expect.poll(succeeded, { timeout: 30_000, interval: 500 }).toBe(N);
    } finally {
      results.disconnect();
    }
    expect(worker.output()).not.toMatch(/Unhandled|TypeError/);
  }, 300_000);
});
