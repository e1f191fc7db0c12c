/**
 * Python Celery 5.2.6 producer -> Celeriac worker, on a Redis broker and a Redis result backend: every calling
 * option the issue lists, results read back by Python (`AsyncResult.get()`) and by Celeriac.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker as WorkerType } from '../../src/index.js';
import { uuid } from '../../src/protocol/ids.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';
import { runPythonPlan, type Outcome, type Report } from '../support/python.js';

const prefix = testPrefix('interop-ts-worker');
const queue = `interop-ts-${uuid().slice(0, 8)}`;
const prioQueue = `${queue}-prio`;
const env = {
  INTEROP_BROKER: REDIS_URL,
  INTEROP_PREFIX: prefix,
  INTEROP_QUEUE: queue,
  INTEROP_RESULT_EXTENDED: '1',
};
Object.assign(process.env, env);
const { app, closeRecorder } = await import('./fixtures/interop-app.js');
const { Worker } = await import('../../src/index.js');
const { silentLogger } = await import('../../src/lifecycle/logger.js');

const redis = testClient();
let worker: WorkerType;
let report: Report;
let sentAt: number;

function got(ref: string): Outcome {
  const outcome = report.got[ref];
  if (!outcome) throw new Error(`no outcome for ${ref}: ${JSON.stringify(report)}`);
  return outcome;
}

beforeAll(async () => {
  // Queued before any worker runs, so the order the worker picks them in shows the priority buckets.
  await runPythonPlan(
    {
      send: [9, 6, 3, 0].map((p) => ({
        ref: `p${p}`,
        task: 'interop.mark',
        args: [`p${p}`],
        options: { queue: prioQueue, priority: p },
      })),
    },
    env,
  );
  app.logger = silentLogger();
  worker = new Worker(app, {
    queues: [prioQueue, queue],
    pool: 'solo',
    prefetchMultiplier: 1,
    hostname: 'ts-interop@%h',
    logger: silentLogger(),
  });
  await worker.start();
  sentAt = Date.now() / 1000;
  report = await runPythonPlan(
    {
      send: [
        { ref: 'args', task: 'interop.add', args: [2, 3] },
        { ref: 'kwargs', task: 'interop.echo', args: [1, 'a'], kwargs: { x: 1, y: { z: [1, null] } } },
        { ref: 'named', task: 'interop.add', kwargs: { x: 4, y: 6 } },
        { ref: 'countdown', task: 'interop.stamp', options: { countdown: 1 } },
        { ref: 'eta', task: 'interop.stamp', options: { eta_in: 1.5 } },
        { ref: 'expired', task: 'interop.add', args: [1, 1], options: { expires_in: -10 } },
        { ref: 'fail', task: 'interop.fail', args: ['boom from python'] },
        { ref: 'kaboom', task: 'interop.kaboom', args: ['custom'] },
        { ref: 'ignored', task: 'interop.mark', args: ['ignored'], options: { ignore_result: true } },
        { ref: 'after-ignored', task: 'interop.mark', args: ['after-ignored'] },
      ],
      get: ['args', 'kwargs', 'named', 'countdown', 'eta', 'expired', 'fail', 'kaboom', 'after-ignored'].map(
        (ref) => ({ ref, timeout: 30 }),
      ),
    },
    env,
  );
});

afterAll(async () => {
  await worker?.stop();
  await closeRecorder();
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

describe('Python producer -> Celeriac worker (Redis broker, Redis backend)', () => {
  it('runs positional and keyword arguments', () => {
    expect(got('args')).toMatchObject({ ok: true, result: 5, status: 'SUCCESS' });
    expect(got('kwargs')).toMatchObject({ ok: true, result: [[1, 'a'], { x: 1, y: { z: [1, null] } }] });
    expect(got('named')).toMatchObject({ ok: true, result: 10 });
  });

  it('honours countdown and eta', () => {
    const countdown = got('countdown');
    const eta = got('eta');
    expect(countdown.ok).toBe(true);
    expect(countdown.result as number).toBeGreaterThanOrEqual(sentAt + 1 - 0.01);
    expect(eta.result as number).toBeGreaterThanOrEqual(sentAt + 1.5 - 0.01);
  });

  it('records an expired task as REVOKED, and Python raises TaskRevokedError', () => {
    expect(got('expired')).toMatchObject({ ok: false, status: 'REVOKED', type: 'TaskRevokedError' });
    expect(got('expired').message).toContain('expired');
  });

  it("makes Python's get() raise the TypeScript error's type and message", () => {
    expect(got('fail')).toMatchObject({
      ok: false,
      status: 'FAILURE',
      type: 'ValueError',
      module: 'builtins',
    });
    expect(got('fail').message).toBe('boom from python');
    expect(got('kaboom')).toMatchObject({ ok: false, status: 'FAILURE', type: 'KaboomError' });
    expect(got('kaboom').message).toBe('custom');
  });

  it('stores nothing for ignore_result', async () => {
    // The worker ran the ignored task before the one after it (solo pool, one at a time).
    expect(got('after-ignored').ok).toBe(true);
    expect(await redis.lrange(`${prefix}order`, 0, -1)).toEqual(
      expect.arrayContaining(['ignored', 'after-ignored']),
    );
    expect(await redis.exists(`celery-task-meta-${report.sent.ignored!.id}`)).toBe(0);
  });

  it('stores result_extended fields that Python reads', () => {
    expect(got('kwargs')).toMatchObject({
      name: 'interop.echo',
      args: [1, 'a'],
      kwargs: { x: 1, y: { z: [1, null] } },
      worker: worker.hostname,
      queue,
      retries: 0,
    });
  });

  it('takes priority buckets in kombu order: 0 first, 9 last', async () => {
    const order = await redis.lrange(`${prefix}order`, 0, -1);
    expect(order.filter((label) => /^p\d$/.test(label))).toEqual(['p0', 'p3', 'p6', 'p9']);
  });

  it('lets Celeriac read the results Python waited for', async () => {
    const fail = await app.AsyncResult(report.sent.fail!.id).get({ propagate: false });
    expect(fail).toMatchObject({ excType: 'ValueError', remoteMessage: 'boom from python' });
    expect(await app.AsyncResult(report.sent.args!.id).get({ timeout: 5 })).toBe(5);
  });
});
