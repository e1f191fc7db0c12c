import { afterEach, describe, expect, it } from 'vitest';
import { Celery } from '../app/celery.js';
import { uuid } from '../protocol/ids.js';
import { silentLogger } from '../lifecycle/logger.js';
import { Worker } from './worker.js';
import type { PoolFactory } from './pools/index.js';
import { States } from '../types.js';
import type { MemoryBroker } from '../brokers/memory/memory-broker.js';

function makeApp(): Celery {
  const ns = uuid();
  const app = new Celery('test', { broker: `memory://${ns}`, backend: `memory://${ns}` });
  app.logger = silentLogger();
  return app;
}

describe('worker on the memory broker', () => {
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });

  async function startWorker(
    app: Celery,
    options: ConstructorParameters<typeof Worker>[1] = {},
  ): Promise<Worker> {
    const worker = new Worker(app, { logger: silentLogger(), ...options });
    workers.push(worker);
    await worker.start();
    return worker;
  }

  it('runs a task and returns its result', async () => {
    const app = makeApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    await startWorker(app);
    const result = await add.delay(2, 3);
    expect(await result.get({ timeout: 5 })).toBe(5);
    expect(await result.state()).toBe(States.SUCCESS);
  });

  it('runs async tasks concurrently', async () => {
    const app = makeApp();
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const slow = app.task('tasks.slow', async (n: number) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => release.push(resolve));
      running--;
      return n;
    });
    await startWorker(app, { concurrency: 4 });
    const results = await Promise.all([1, 2, 3, 4].map((n) => slow.delay(n)));
    await expect.poll(() => release.length).toBe(4);
    release.forEach((r) => r());
    expect(await Promise.all(results.map((r) => r.get({ timeout: 5 })))).toEqual([1, 2, 3, 4]);
    expect(peak).toBe(4);
  });

  it('stores a failure and rejects get() with the remote type and message', async () => {
    const app = makeApp();
    const boom = app.task('tasks.boom', () => {
      throw new TypeError('bad thing');
    });
    await startWorker(app);
    const result = await boom.delay();
    await expect(result.get({ timeout: 5 })).rejects.toMatchObject({
      name: 'RemoteTaskError',
      excType: 'TypeError',
      remoteMessage: 'bad thing',
    });
    expect(await result.state()).toBe(States.FAILURE);
  });

  it('binds Python-style kwargs through params', async () => {
    const app = makeApp();
    app.task('tasks.sub', (x: number, y: number) => x - y, { params: ['x', 'y'] });
    await startWorker(app);
    const result = await app.sendTask<number>('tasks.sub', [], { y: 2, x: 10 });
    expect(await result.get({ timeout: 5 })).toBe(8);
  });

  it('fails a call with an unexpected keyword argument, naming it', async () => {
    const app = makeApp();
    app.task('tasks.mul', (x: number, y: number) => x * y);
    await startWorker(app);
    const result = await app.sendTask('tasks.mul', [1], { y: 2 });
    await expect(result.get({ timeout: 5 })).rejects.toThrow(/unexpected keyword argument 'y'/);
  });

  it('records an unknown task as FAILURE NotRegistered and keeps running', async () => {
    const app = makeApp();
    const ok = app.task('tasks.ok', () => 'ok');
    await startWorker(app);
    const unknown = await app.sendTask('tasks.nope', []);
    await expect(unknown.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'NotRegistered' });
    expect(await (await ok.delay()).get({ timeout: 5 })).toBe('ok');
  });

  it('revokes an expired task instead of running it', async () => {
    const app = makeApp();
    let ran = false;
    const t = app.task('tasks.expiring', () => {
      ran = true;
    });
    const result = await t.applyAsync([], {}, { expires: new Date(Date.now() - 1000) });
    await startWorker(app);
    await expect(result.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'TaskRevokedError' });
    expect(ran).toBe(false);
  });

  it('runs a countdown task not before its ETA', async () => {
    const app = makeApp();
    const stamp = app.task('tasks.stamp', () => Date.now());
    await startWorker(app);
    const sent = Date.now();
    const result = await stamp.applyAsync([], {}, { countdown: 0.3 });
    expect(await result.get({ timeout: 5 })).toBeGreaterThanOrEqual(sent + 300);
  });

  it('publishes link callbacks and chain links with the result', async () => {
    const app = makeApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const double = app.task('tasks.double', (x: number) => x * 2);
    await startWorker(app);
    const callbackId = uuid();
    await add.applyAsync(
      [1, 2],
      {},
      {
        link: {
          task: 'tasks.double',
          args: [],
          kwargs: {},
          options: { task_id: callbackId },
          subtask_type: null,
          immutable: false,
        },
      },
    );
    expect(await double.AsyncResult(callbackId).get({ timeout: 5 })).toBe(6);
  });

  it('rejects undecodable messages to the dead letters, stores FAILURE when the id is known, and keeps going', async () => {
    const app = makeApp();
    const ok = app.task('tasks.ok', () => 'still fine');
    await startWorker(app);
    const broker = (await app.getBroker()) as MemoryBroker;
    const id = uuid();
    await broker.publish(
      {
        headers: { task: 'tasks.ok', id },
        properties: {},
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        body: Buffer.from('{not json'),
      },
      { exchange: '', routingKey: 'celery' },
    );
    await expect(app.AsyncResult(id).get({ timeout: 5 })).rejects.toMatchObject({
      excType: 'InvalidTaskError',
    });
    expect(broker.deadLetters.at(-1)?.reason).toBe('body-decode-error');
    expect(await (await ok.delay()).get({ timeout: 5 })).toBe('still fine');
  });

  it('gives prefetched tasks back on warm shutdown and lets running ones finish', async () => {
    const app = makeApp();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const wait = app.task('tasks.wait', async (n: number) => {
      started++;
      await gate;
      return n;
    });
    const worker = await startWorker(app, { concurrency: 1, prefetchMultiplier: 4 });
    const results = await Promise.all([1, 2, 3].map((n) => wait.delay(n)));
    await expect.poll(() => started).toBe(1);
    const stopping = worker.stop();
    release();
    await stopping;
    expect(await results[0]!.get({ timeout: 5 })).toBe(1);
    const broker = await app.getBroker();
    expect(await broker.size('celery')).toBe(2);
    await startWorker(app, { concurrency: 1 });
    expect(await Promise.all(results.slice(1).map((r) => r.get({ timeout: 5 })))).toEqual([2, 3]);
  });

  it('keeps its state: the running request (Celery info shape), the waiting one, and totals per task', async () => {
    const app = makeApp();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const wait = app.task('tasks.wait', () => gate);
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const worker = await startWorker(app, { concurrency: 1 });
    const running = await wait.delay();
    const queued = await add.delay(1, 2);
    const state = worker.workerState!;
    await expect.poll(() => [state.active.size, state.reserved.size]).toEqual([1, 1]);
    // Early acks are written before the task runs (awaited): wait for it.
    await expect.poll(() => [...state.active][0]?.info().acknowledged).toBe(true);
    const [info] = [...state.active].map((r) => r.info());
    expect(info).toMatchObject({
      id: running.id,
      name: 'tasks.wait',
      type: 'tasks.wait',
      hostname: worker.hostname,
      acknowledged: true,
      worker_pid: process.pid,
      delivery_info: { routing_key: 'celery', redelivered: false },
    });
    expect(typeof info!.time_start).toBe('number');
    expect([...state.reserved].map((r) => r.info().acknowledged)).toEqual([false]);
    expect(state.queryTask([queued.id])[queued.id]![0]).toBe('reserved');
    open();
    expect(await queued.get({ timeout: 5 })).toBe(3);
    await expect.poll(() => worker.processed).toBe(2);
    expect(worker.stats().total).toEqual({ 'tasks.wait': 1, 'tasks.add': 1 });
    expect(state.registered()).toEqual(['tasks.add', 'tasks.wait']);
  });

  it('runs tasks in a custom pool given to this worker, and refuses unknown or shadowing names', async () => {
    const app = makeApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const ran: string[] = [];
    const inline: PoolFactory = (context) => ({
      kind: 'inline',
      concurrency: context.concurrency,
      start: async () => {},
      stop: async () => {},
      run: async (job) => {
        ran.push(job.task.name);
        try {
          const fn = job.task.fn as (...args: unknown[]) => unknown;
          return { ok: true, value: await fn(...job.request.args) };
        } catch (error) {
          return { ok: false, error };
        }
      },
    });
    const worker = await startWorker(app, { pool: 'inline', pools: { inline }, concurrency: 2 });
    expect(worker.poolName).toBe('inline');
    expect(await (await add.delay(2, 3)).get({ timeout: 5 })).toBe(5);
    expect(ran).toEqual(['tasks.add']);

    expect(() => new Worker(app, { pool: 'inline' })).toThrow(
      /pool must be one of async, solo, threads, prefork, got "inline" \(custom pools are given to new Worker/,
    );
    expect(() => new Worker(app, { pool: 'async', pools: { async: inline } })).toThrow(
      /"async" is a built-in pool/,
    );
  });
});
