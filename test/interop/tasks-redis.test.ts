/**
 * Task semantics across languages on Redis (issue 5 acceptance): Python Celery 5.2.6 produces and reads, a
 * Celeriac worker runs. A task retried twice ends SUCCESS with retries == 2 in Python's view; PROGRESS meta written
 * by Celeriac is Python's AsyncResult.info; expiry and failures read as Python's own. And a retry re-sent by a
 * Celeriac worker runs on a Python worker. The Python side is checked against a Python worker by
 * tasks-python-harness.test.ts.
 *
 * These run once the redis:// driver is registered (it is built on its own branch); until then the suite says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, currentTask, type TaskContext } from '../../src/index.js';
import { knownBrokerSchemes } from '../../src/brokers/registry.js';
import { uuid } from '../../src/protocol/ids.js';
import { startTestWorker, type TestWorker, silentLogger } from '../../src/testing/index.js';
import {
  client,
  INTEROP_REDIS,
  startPythonWorker,
  type PythonView,
  type PythonWorker,
} from './python-tasks/runner.js';

const redisRegistered = knownBrokerSchemes().includes('redis');

class KeyError extends Error {
  override name = 'KeyError';
}
class ValueError extends Error {
  override name = 'ValueError';
}

describe.skipIf(!redisRegistered)('task semantics with Python Celery on Redis', () => {
  const nodeQueue = `node-tasks-${uuid().slice(0, 8)}`;
  const pyQueue = `py-hop-${uuid().slice(0, 8)}`;
  const gates = new Map<string, () => void>();
  let app: Celery;
  let worker: TestWorker;
  let python: PythonWorker;

  beforeAll(async () => {
    app = new Celery('interop', { broker: INTEROP_REDIS, backend: INTEROP_REDIS, resultExtended: true });
    app.logger = silentLogger();
    app.task('interop.retry_twice', (value: string) => {
      const { retries } = currentTask().request;
      if (retries < 2) currentTask().retry({ countdown: 0, exc: new KeyError('not yet') });
      return { value, retries };
    });
    app.task('interop.progress', async (total: number) => {
      const ctx = currentTask();
      await ctx.updateState({ state: 'PROGRESS', meta: { current: 1, total } });
      await new Promise<void>((resolve) => gates.set(ctx.request.id, resolve));
      return total;
    });
    app.task('interop.add', (x: number, y: number) => x + y);
    app.task('interop.fail', (message: string) => {
      throw new ValueError(message);
    });
    app.task(
      'interop.hop',
      (ctx: TaskContext, value: string) =>
        ctx.retry({ queue: pyQueue, countdown: 0, args: [`${value} from node`] }),
      { bind: true },
    );
    worker = await startTestWorker(app, { queues: [nodeQueue] });
    python = await startPythonWorker(pyQueue);
  });
  afterAll(async () => {
    await worker?.stop();
    await python?.stop();
    await app?.close();
    await client('cleanup', nodeQueue, pyQueue);
  });

  async function send(name: string, args: unknown[], ...flags: string[]): Promise<string> {
    return (await client<{ id: string }>('send', name, JSON.stringify(args), '--queue', nodeQueue, ...flags))
      .id;
  }

  it('a task sent from Python that retries twice on a Celeriac worker ends SUCCESS with retries == 2', async () => {
    const id = await send('interop.retry_twice', ['v']);
    expect(await client<PythonView>('wait', id, '30')).toMatchObject({
      state: 'SUCCESS',
      retries: 2,
      name: 'interop.retry_twice',
      result: { value: 'v', retries: 2 },
    });
  });

  it("PROGRESS meta written by a Celeriac task is Python's AsyncResult.info while it runs", async () => {
    const id = await send('interop.progress', [2]);
    expect(await client('progress', id, '30')).toEqual({
      state: 'PROGRESS',
      info: { current: 1, total: 2 },
      ready: false,
    });
    await expect.poll(() => gates.has(id)).toBe(true);
    gates.get(id)!();
    expect(await client<PythonView>('wait', id, '30')).toMatchObject({ state: 'SUCCESS', result: 2 });
  });

  it("an expired task is REVOKED (expired) in Python's view", async () => {
    const id = await send('interop.add', [1, 2], '--expired');
    expect(await client<PythonView>('wait', id, '30')).toMatchObject({
      state: 'REVOKED',
      exception: { type: 'TaskRevokedError', module: 'celery.exceptions', args: ["'expired'"] },
    });
  });

  it('a Celeriac failure is the Python exception it names, with a traceback', async () => {
    const id = await send('interop.fail', ['boom']);
    expect(await client<PythonView>('wait', id, '30')).toMatchObject({
      state: 'FAILURE',
      has_traceback: true,
      exception: { type: 'ValueError', module: 'builtins', args: ["'boom'"] },
    });
  });

  it('a retry re-sent by a Celeriac worker runs on a Python worker', async () => {
    const id = await send('interop.hop', ['v']);
    expect(await client<PythonView>('wait', id, '30')).toMatchObject({
      state: 'SUCCESS',
      result: 'python ran v from node after 1 retries',
    });
  });

  it('a Celeriac producer reads the retries of a task a Python worker retried', async () => {
    const result = await app.sendTask<{ value: string; retries: number }>(
      'interop.retry_twice',
      ['py'],
      {},
      {
        queue: pyQueue,
      },
    );
    expect(await result.get({ timeout: 30 })).toEqual({ value: 'py', retries: 2 });
    expect((await result.meta()).retries).toBe(2);
  });
});
