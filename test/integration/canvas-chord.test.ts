/**
 * Acceptance (issue 6): a chord of 1,000 header tasks on Redis (broker and backend) with two worker processes and
 * late acks completes with every header result given to the body exactly once, also when one worker is killed with
 * SIGKILL in the middle of the header; and a chord with a failing member fails its body with a ChordError naming
 * that member and calls the body's errback promptly after the failure (within 5 s, across worker processes on a
 * loaded machine).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Celery, chord } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { startCli, type RunningProcess } from '../support/processes.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

const N = 1_000;
const prefix = testPrefix('canvas-chord');
const queue = `canvas-chord-${uuid().slice(0, 8)}`;
const RECORDER_URL = REDIS_URL.replace(/\/\d+$/, '/11');
const env = {
  CANVAS_BROKER: REDIS_URL,
  CANVAS_PREFIX: prefix,
  CANVAS_QUEUE: queue,
  CANVAS_RECORDER: RECORDER_URL,
};
const APP = 'test/integration/fixtures/canvas-app.ts';
const redis = testClient();
const recorder = testClient(RECORDER_URL);
const workers: RunningProcess[] = [];

const client = new Celery('canvas-producer', {
  broker: REDIS_URL,
  backend: REDIS_URL,
  taskDefaultQueue: queue,
  brokerTransportOptions: { global_keyprefix: prefix },
  resultExpires: 600,
});
client.logger = silentLogger();
const work = client.signature<number>('canvas.work');
const collect = client.signature<number>('canvas.collect');

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
});

function startWorker(name: string): RunningProcess {
  const worker = startCli(['-A', APP, 'worker', '-Q', queue, '-c', '10', '-n', `${name}@%h`, '-l', 'info'], {
    env,
  });
  workers.push(worker);
  return worker;
}

describe('chords on Redis with two worker processes', () => {
  it('gives the body every one of 1,000 header results exactly once, with a worker SIGKILLed mid-header', async () => {
    const [a, b] = [startWorker('chord-a'), startWorker('chord-b')];
    await Promise.all([a.waitFor(/ ready\./), b.waitFor(/ ready\./)]);
    const header = Array.from({ length: N }, (_, i) => work.clone([i]));
    const result = await chord(header, collect.clone()).applyAsync();
    // Kill one worker once the header is well under way: its unacknowledged tasks come back to the other.
    await expect
      .poll(() => recorder.hlen(`${prefix}runs`), { timeout: 60_000, interval: 50 })
      .toBeGreaterThan(N / 5);
    a.kill('SIGKILL');
    await a.exited();
    // It died during the header: not every header task had run yet.
    expect(await recorder.hlen(`${prefix}runs`)).toBeLessThan(N);
    expect(await result.get({ timeout: 120 })).toBe((N * (N - 1)) / 2);
    const collected = await recorder.lrange(`${prefix}collected`, 0, -1);
    expect(collected).toHaveLength(1);
    const values = JSON.parse(collected[0]!) as number[];
    expect(values).toEqual(Array.from({ length: N }, (_, i) => i));
    const runs = await recorder.hgetall(`${prefix}runs`);
    expect(Object.keys(runs)).toHaveLength(N);
  }, 180_000);

  it('fails the body with a ChordError naming the failed member and calls its errback promptly', async () => {
    await startWorker('chord-c').waitFor(/ ready\./);
    const failing = client.signature<number>('canvas.fail', ['boom']);
    const failingId = uuid();
    failing.set({ taskId: failingId });
    const body = collect.clone().linkError(client.signature('canvas.on_error'));
    const result = await chord([work.clone([1]), failing, work.clone([2])], body).applyAsync();
    const error = await result.get({ timeout: 30 }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error).toMatchObject({ excType: 'ChordError' });
    expect(error?.message).toContain(failingId);
    await expect
      .poll(() => recorder.get(`${prefix}errback`), { timeout: 10_000, interval: 20 })
      .not.toBeNull();
    const errback = JSON.parse((await recorder.get(`${prefix}errback`))!) as { taskId: string; at: number };
    const failedAt = Number(await recorder.get(`${prefix}failed-at`));
    expect(errback.taskId).toBe(result.id);
    expect(errback.at - failedAt).toBeLessThan(5_000);
  }, 60_000);
});
