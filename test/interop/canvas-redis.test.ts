/**
 * Canvas across languages on a Redis broker and a Redis result backend: a chord sent from Python Celery 5.2.6 runs
 * on Celeriac workers, the same chord sent from Celeriac runs on Python workers, and a chain whose links alternate
 * between a Python-only and a TypeScript-only task returns the right result to both languages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemoteTaskError as RemoteTaskErrorType, Worker as WorkerType } from '../../src/index.js';
import { uuid } from '../../src/protocol/ids.js';
import { runPythonCanvas, startPythonWorker, type PythonWorker } from '../support/python.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

const prefix = testPrefix('interop-canvas');
const tsQueue = `interop-canvas-ts-${uuid().slice(0, 8)}`;
const pyQueue = `interop-canvas-py-${uuid().slice(0, 8)}`;
const env = {
  INTEROP_BROKER: REDIS_URL,
  INTEROP_PREFIX: prefix,
  INTEROP_QUEUE: tsQueue,
  INTEROP_PREFETCH: '4',
};
Object.assign(process.env, env);
const { app, add, fail, tsinc, tsum, closeRecorder } = await import('./fixtures/interop-app.js');
const { Worker, RemoteTaskError, chain, chord, signature } = await import('../../src/index.js');
const { silentLogger } = await import('../../src/lifecycle/logger.js');

const redis = testClient();
let worker: WorkerType;
let python: PythonWorker;

beforeAll(async () => {
  app.logger = silentLogger();
  worker = new Worker(app, { queues: [tsQueue], hostname: 'ts-canvas@%h', logger: silentLogger() });
  await worker.start();
  python = await startPythonWorker({
    env,
    queues: [pyQueue],
    name: `py-canvas-${uuid().slice(0, 6)}`,
    pool: 'threads',
    concurrency: 4,
  });
}, 60_000);

afterAll(async () => {
  await python?.stop();
  await worker?.stop();
  await closeRecorder();
  await app.close();
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const expectedSum = range(100).reduce((sum, i) => sum + 2 * i, 0);

describe('canvas between Python Celery and Celeriac (Redis)', () => {
  it('runs a chord sent from Python on Celeriac workers', async () => {
    const outcome = await runPythonCanvas(['chord', '100'], env);
    expect(outcome.error).toBeUndefined();
    expect(outcome.result).toBe(expectedSum);
    expect(await app.AsyncResult<number>(outcome.id).get({ timeout: 10 })).toBe(expectedSum);
  });

  it('runs a chord sent from Celeriac on Python workers', async () => {
    const header = range(100).map((i) => add.s(i, i).set({ queue: pyQueue }));
    const result = await chord(header, tsum.s().set({ queue: pyQueue })).applyAsync();
    expect(await result.get({ timeout: 60 })).toBe(expectedSum);
    const outcome = await runPythonCanvas(['get', result.id], env);
    expect(outcome.result).toBe(expectedSum);
  });

  it('fails the body of a chord sent from Python with ChordError when a member fails on Celeriac', async () => {
    const outcome = await runPythonCanvas(['chordfail'], env);
    // Celery's AsyncResult.get() re-raises the failed parent (the header group) before the body's own error.
    expect(outcome.error?.type).toBe('ValueError');
    const body = await runPythonCanvas(['get', outcome.id], env);
    expect(body.error?.type).toBe('ChordError');
    expect(body.error?.message).toMatch(/Dependency .* raised ValueError\('boom'\)/);
  });

  it('fails the body of a chord sent from Celeriac with ChordError when a member fails on Python', async () => {
    const header = [add.s(1, 1), fail.s('boom'), add.s(2, 2)].map((s) => s.set({ queue: pyQueue }));
    const result = await chord(header, tsum.s().set({ queue: pyQueue })).applyAsync();
    const error = (await result.get({ timeout: 60, propagate: false })) as RemoteTaskErrorType;
    expect(error).toBeInstanceOf(RemoteTaskError);
    expect(error.excType).toBe('ChordError');
    expect(error.remoteMessage).toMatch(/Dependency .* raised ValueError\('boom'\)/);
  });

  it('runs a chain alternating Python and TypeScript tasks, sent from Python', async () => {
    const outcome = await runPythonCanvas(['chain', pyQueue, tsQueue], env);
    expect(outcome.error).toBeUndefined();
    expect(outcome.result).toBe(7);
    expect(await app.AsyncResult<number>(outcome.id).get({ timeout: 10 })).toBe(7);
  });

  it('runs a chain alternating Python and TypeScript tasks, sent from Celeriac', async () => {
    const pydouble = (...args: number[]) => signature('interop.pydouble', args, {}, { queue: pyQueue });
    const result = await chain(
      pydouble(1),
      tsinc.s().set({ queue: tsQueue }),
      pydouble(),
      tsinc.s().set({ queue: tsQueue }),
    ).applyAsync();
    expect(await result.get({ timeout: 60 })).toBe(7);
    const outcome = await runPythonCanvas(['get', result.id], env);
    expect(outcome.result).toBe(7);
  });
});
