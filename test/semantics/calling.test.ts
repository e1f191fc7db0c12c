/** Calling options (Celery's "Calling Tasks"), end to end through a worker, on every driver. */
import { expect, it } from 'vitest';
import { currentTask } from '../../src/app/current-task.js';
import type { TaskRequest } from '../../src/app/context.js';
import type { SignatureDict } from '../../src/protocol/message.js';
import { States, type JsonValue } from '../../src/types.js';
import { onEveryDriver } from './harness.js';

onEveryDriver('calling', ({ makeApp, startWorker }) => {
  it('runs countdown and eta tasks not before their time, with request.eta set', async () => {
    const app = makeApp();
    const stamp = app.task('call.stamp', () => ({
      ranAt: Date.now(),
      eta: currentTask().request.eta?.getTime() ?? null,
    }));
    await startWorker(app);
    const sent = Date.now();
    const byCountdown = await stamp.applyAsync([], {}, { countdown: 0.2 });
    const at = new Date(Date.now() + 250);
    const byDate = await stamp.applyAsync([], {}, { eta: at });
    const byIso = await stamp.applyAsync([], {}, { eta: new Date(Date.now() + 150).toISOString() });
    const a = await byCountdown.get({ timeout: 10 });
    const b = await byDate.get({ timeout: 10 });
    const c = await byIso.get({ timeout: 10 });
    expect(a.eta).toBeGreaterThanOrEqual(sent + 200);
    expect(a.ranAt).toBeGreaterThanOrEqual(a.eta!);
    expect(b.eta).toBe(at.getTime());
    expect(b.ranAt).toBeGreaterThanOrEqual(at.getTime());
    expect(c.ranAt).toBeGreaterThanOrEqual(c.eta!);
  });

  it('delivers higher priorities first and shows the priority in deliveryInfo', async () => {
    const app = makeApp();
    const order: [string, number | null][] = [];
    const job = app.task('call.job', (name: string) => {
      order.push([name, currentTask().request.deliveryInfo.priority]);
    });
    await job.applyAsync(['low'], {}, { priority: 1 });
    await job.applyAsync(['high'], {}, { priority: 9 });
    await job.applyAsync(['mid'], {}, { priority: 5 });
    await startWorker(app, { concurrency: 1, prefetchMultiplier: 1 });
    await expect.poll(() => order.length, { timeout: 10_000 }).toBe(3);
    expect(order).toEqual([
      ['high', 9],
      ['mid', 5],
      ['low', 1],
    ]);
  });

  it('routes with queue, exchange and routingKey options', async () => {
    const app = makeApp({
      taskQueues: [
        { name: 'call-images', exchange: 'media', exchangeType: 'direct', routingKey: 'image' },
        { name: 'call-video', exchange: 'media', exchangeType: 'direct', routingKey: 'video' },
      ],
    });
    const where = app.task('call.where', () => {
      const { deliveryInfo, queue } = currentTask().request;
      return { queue, exchange: deliveryInfo.exchange, routingKey: deliveryInfo.routingKey };
    });
    await startWorker(app, { queues: ['call-images', 'call-video', 'call-plain'] });
    const viaExchange = await where.applyAsync([], {}, { exchange: 'media', routingKey: 'video' });
    const viaQueue = await where.applyAsync([], {}, { queue: 'call-plain' });
    expect(await viaExchange.get({ timeout: 10 })).toEqual({
      queue: 'call-video',
      exchange: 'media',
      routingKey: 'video',
    });
    expect(await viaQueue.get({ timeout: 10 })).toEqual({
      queue: 'call-plain',
      exchange: '',
      routingKey: 'call-plain',
    });
  });

  it('routes with taskRoutes: names, globs, functions and regular expressions', async () => {
    const app = makeApp({
      taskRoutes: [
        { 'call.route.exact': 'r-exact', 'call.route.glob.*': { queue: 'r-glob' } },
        (name, args) => (name === 'call.route.fn' ? { queue: args[0] === 'vip' ? 'r-vip' : 'r-fn' } : null),
        [/^call\.route\.re\d$/, 'r-re'],
      ],
    });
    const names = [
      'call.route.exact',
      'call.route.glob.x',
      'call.route.fn',
      'call.route.re1',
      'call.route.none',
    ];
    for (const name of names) app.task(name, (..._tag: string[]) => currentTask().request.queue);
    await startWorker(app, { queues: ['celery', 'r-exact', 'r-glob', 'r-vip', 'r-fn', 'r-re'] });
    const results = await Promise.all([
      ...names.map((name) => app.sendTask<string>(name, [])),
      app.sendTask<string>('call.route.fn', ['vip']),
      app.sendTask<string>('call.route.exact', [], {}, { queue: 'celery' }),
    ]);
    expect(await Promise.all(results.map((r) => r.get({ timeout: 10 })))).toEqual([
      'r-exact',
      'r-glob',
      'r-fn',
      'r-re',
      'celery',
      'r-vip',
      'celery',
    ]);
  });

  it('carries custom headers, time limits, shadow and ignoreResult to the request', async () => {
    const app = makeApp();
    const seen: TaskRequest[] = [];
    const look = app.task('call.look', () => {
      seen.push(currentTask().request);
      return 'ok';
    });
    const received: string[] = [];
    app.hooks.on('taskReceived', ({ request }) => void received.push(request.shadow ?? ''));
    await startWorker(app);
    const r = await look.applyAsync(
      [],
      {},
      {
        headers: { 'x-request-id': 'r-1', nested: { a: [1, 2] } },
        timeLimit: 30,
        softTimeLimit: 20,
        shadow: 'look-alias',
      },
    );
    expect(await r.get({ timeout: 10 })).toBe('ok');
    const quiet = await look.applyAsync([], {}, { ignoreResult: true });
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(2);
    expect(seen[0]!.headers).toMatchObject({ 'x-request-id': 'r-1', nested: { a: [1, 2] } });
    expect(seen[0]!.timelimit).toEqual([30, 20]);
    expect(seen[0]!.shadow).toBe('look-alias');
    expect(received[0]).toBe('look-alias');
    expect(seen[1]!.ignoreResult).toBe(true);
    expect(await quiet.state()).toBe(States.PENDING);
  });

  it('sends with msgpack and with zlib or brotli compression', async () => {
    const app = makeApp({ acceptContent: ['json', 'msgpack'] });
    const echo = app.task('call.echo', (value: unknown) => value);
    const compression: (string | undefined)[] = [];
    app.hooks.on('taskPrerun', ({ request }) => void compression.push(request.headers.compression as string));
    await startWorker(app);
    const payload = { text: 'é'.repeat(200), list: [1, 2.5, null, true], nested: { deep: ['x'] } };
    for (const options of [
      { serializer: 'msgpack' },
      { compression: 'zlib' },
      { serializer: 'msgpack', compression: 'brotli' },
    ]) {
      const result = await echo.applyAsync([payload], {}, options);
      expect(await result.get({ timeout: 10 })).toEqual(payload);
    }
    expect(compression).toEqual([undefined, 'application/x-gzip', 'application/x-brotli']);
  });

  it('calls link callbacks with the result and linkError callbacks with the failed id', async () => {
    const app = makeApp();
    const add = app.task('call.add', (x: number, y: number) => x + y);
    const boom = app.task('call.boom', () => {
      throw new Error('nope');
    });
    const record = app.task('call.record', (value: unknown) => value);
    await startWorker(app);
    const sig = (taskId: string, immutable = false, args: JsonValue[] = []): SignatureDict => ({
      task: 'call.record',
      args,
      kwargs: {},
      options: { task_id: taskId },
      subtask_type: null,
      immutable,
    });
    const ok = await add.applyAsync([2, 3], {}, { link: [sig('cb-1'), sig('cb-2', true, ['fixed'])] });
    expect(await ok.get({ timeout: 10 })).toBe(5);
    expect(await record.AsyncResult('cb-1').get({ timeout: 10 })).toBe(5);
    expect(await record.AsyncResult('cb-2').get({ timeout: 10 })).toBe('fixed');
    // Several callbacks are sent as one group, as Celery does: the child is the group's tuple.
    const children = (await ok.meta()).children as JsonValue[][];
    expect(children).toHaveLength(1);
    expect(children[0]![1]).toEqual([
      [['cb-1', null], null],
      [['cb-2', null], null],
    ]);
    const bad = await boom.applyAsync([], {}, { linkError: sig('eb-1') });
    await expect(bad.get({ timeout: 10 })).rejects.toThrow();
    expect(await record.AsyncResult('eb-1').get({ timeout: 10 })).toBe(bad.id);
  });

  it('fails the rest of a chain when a link fails, so waiting on it does not hang', async () => {
    const app = makeApp();
    app.task('call.fail', () => {
      throw new Error('chain broke');
    });
    app.task('call.next', (x: unknown) => x);
    await startWorker(app);
    await app.sendTask(
      'call.fail',
      [],
      {},
      {
        chain: [
          {
            task: 'call.next',
            args: [],
            kwargs: {},
            options: { task_id: 'chain-last' },
            subtask_type: null,
            immutable: false,
          },
        ],
      },
    );
    await expect(app.AsyncResult('chain-last').get({ timeout: 10 })).rejects.toMatchObject({
      remoteMessage: 'chain broke',
    });
  });
});
