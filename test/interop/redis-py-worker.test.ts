/**
 * Celeriac producer -> Python Celery 5.2.6 worker, on a Redis broker and a Redis result backend: every calling
 * option the issue lists, results read back by Celeriac (`AsyncResult.get()`) and by Python.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, type AsyncResult, RemoteTaskError } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { startPythonWorker, runPythonPlan, type PythonWorker } from '../support/python.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

const prefix = testPrefix('interop-py-worker');
const queue = `interop-py-${uuid().slice(0, 8)}`;
const prioQueue = `${queue}-prio`;
const env = {
  INTEROP_BROKER: REDIS_URL,
  INTEROP_PREFIX: prefix,
  INTEROP_QUEUE: queue,
  INTEROP_RESULT_EXTENDED: '1',
  // With a prefetch of 1, a Celery 5.2.6 solo worker that has run ETA tasks stops fetching until kombu's 10 s poll
  // timer fires (reproduced with a Python producer too); 4 (Celery's default) avoids that stall.
  INTEROP_PREFETCH: '4',
};

const redis = testClient();
const app = new Celery('ts-producer', {
  broker: REDIS_URL,
  backend: REDIS_URL,
  taskDefaultQueue: queue,
  brokerTransportOptions: { global_keyprefix: prefix },
  resultExpires: 600,
});
app.logger = silentLogger();
let python: PythonWorker;

beforeAll(async () => {
  // Queued before the worker starts, so the order it picks them in shows the priority buckets.
  for (const p of [9, 6, 3, 0])
    await app.sendTask('interop.mark', [`p${p}`], {}, { queue: prioQueue, priority: p });
  python = await startPythonWorker({ env, queues: [prioQueue, queue], name: `py-${uuid().slice(0, 6)}` });
});

afterAll(async () => {
  await python?.stop();
  await app.close();
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

async function failure(result: AsyncResult): Promise<RemoteTaskError> {
  const error = await result.get({ timeout: 30, propagate: false });
  expect(error).toBeInstanceOf(RemoteTaskError);
  return error as RemoteTaskError;
}

describe('Celeriac producer -> Python worker (Redis broker, Redis backend)', () => {
  it('runs positional and keyword arguments', async () => {
    const add = await app.sendTask<number>('interop.add', [2, 3]);
    const echo = await app.sendTask('interop.echo', [1, 'a'], { x: 1, y: { z: [1, null] } });
    const named = await app.sendTask<number>('interop.add', [], { x: 4, y: 6 });
    expect(await add.get({ timeout: 30 })).toBe(5);
    expect(await echo.get({ timeout: 30 })).toEqual([[1, 'a'], { x: 1, y: { z: [1, null] } }]);
    expect(await named.get({ timeout: 30 })).toBe(10);
  });

  it('honours countdown and eta', async () => {
    const sentAt = Date.now() / 1000;
    const countdown = await app.sendTask<number>('interop.stamp', [], {}, { countdown: 1 });
    const eta = await app.sendTask<number>('interop.stamp', [], {}, { eta: new Date(Date.now() + 1500) });
    expect(await countdown.get({ timeout: 30 })).toBeGreaterThanOrEqual(sentAt + 1 - 0.01);
    expect(await eta.get({ timeout: 30 })).toBeGreaterThanOrEqual(sentAt + 1.5 - 0.01);
  });

  it("rejects get() with the Python exception's type and message", async () => {
    const error = await failure(await app.sendTask('interop.fail', ['boom from ts']));
    expect(error.excType).toBe('ValueError');
    expect(error.excModule).toBe('builtins');
    expect(error.remoteMessage).toBe('boom from ts');
    expect(error.remoteTraceback).toContain('ValueError: boom from ts');
    const custom = await failure(await app.sendTask('interop.kaboom', ['custom']));
    expect(custom).toMatchObject({
      excType: 'KaboomError',
      excModule: 'interop_app',
      remoteMessage: 'custom',
    });
  });

  it('stores nothing for ignoreResult', async () => {
    const ignored = await app.sendTask('interop.mark', ['ignored'], {}, { ignoreResult: true });
    const after = await app.sendTask('interop.mark', ['after-ignored']);
    expect(await after.get({ timeout: 30 })).toBe('after-ignored');
    expect(await redis.lrange(`${prefix}order`, 0, -1)).toContain('ignored');
    expect(await redis.exists(`celery-task-meta-${ignored.id}`)).toBe(0);
  });

  it('reads result_extended fields the Python worker stored, and Python reads the same results', async () => {
    const echo = await app.sendTask('interop.echo', ['e'], { k: 'v' });
    await echo.get({ timeout: 30 });
    expect(await echo.meta()).toMatchObject({
      status: 'SUCCESS',
      name: 'interop.echo',
      args: ['e'],
      kwargs: { k: 'v' },
      queue,
      retries: 0,
    });
    expect((await echo.meta()).worker).toMatch(/^py-/);
    const report = await runPythonPlan({ get: [{ id: echo.id, timeout: 5 }] }, env);
    expect(report.got[echo.id]).toMatchObject({
      ok: true,
      result: [['e'], { k: 'v' }],
      name: 'interop.echo',
    });
  });

  it('takes priority buckets in kombu order: 0 first, 9 last', async () => {
    await expect
      .poll(async () => (await redis.lrange(`${prefix}order`, 0, -1)).filter((l) => /^p\d$/.test(l)), {
        timeout: 20_000,
      })
      .toEqual(['p0', 'p3', 'p6', 'p9']);
  });
  it('gets REVOKED for an expired task', async () => {
    const expired = await app.sendTask('interop.add', [1, 1], {}, { expires: new Date(Date.now() - 10_000) });
    const error = await failure(expired);
    expect(error.excType).toBe('TaskRevokedError');
    expect(error.remoteMessage).toBe('expired');
    expect(await expired.state()).toBe('REVOKED');
  });
});
