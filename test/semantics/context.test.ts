/** The task context: the request, currentTask(), bound tasks, updateState and sendEvent, on every driver. */
import { expect, it } from 'vitest';
import { currentTask, maybeCurrentTask } from '../../src/app/current-task.js';
import type { TaskContext, TaskRequest } from '../../src/app/context.js';
import { ImproperlyConfigured } from '../../src/errors.js';
import { EVENT_EXCHANGE } from '../../src/events/event.js';
import { States } from '../../src/types.js';
import { gate, onEveryDriver, tap } from './harness.js';

onEveryDriver('task context', ({ makeApp, startWorker }) => {
  it('gives a plain arrow function its request through currentTask()', async () => {
    const app = makeApp();
    let seen: TaskRequest | undefined;
    const add = app.task('ctx.add', (x: number, y: number) => {
      seen = currentTask().request;
      return x + y;
    });
    const worker = await startWorker(app);
    const eta = new Date(Date.now() + 50);
    const expires = new Date(Date.now() + 60_000);
    const result = await add.applyAsync([2, 3], {}, { headers: { 'x-tenant': 'acme' }, eta, expires });
    expect(await result.get({ timeout: 10 })).toBe(5);
    expect(seen).toMatchObject({
      id: result.id,
      task: 'ctx.add',
      args: [2, 3],
      kwargs: {},
      retries: 0,
      rootId: result.id,
      parentId: null,
      group: null,
      hostname: worker.hostname,
      correlationId: result.id,
      replyTo: app.oid,
      isEager: false,
      deliveryInfo: { exchange: '', routingKey: 'celery', redelivered: false },
      queue: 'celery',
    });
    expect(seen!.headers['x-tenant']).toBe('acme');
    expect(seen!.eta?.getTime()).toBe(eta.getTime());
    expect(seen!.expires?.getTime()).toBe(expires.getTime());
  });

  it('gives the task object its own request, and refuses it outside the task', async () => {
    const app = makeApp();
    const whoami = app.task('ctx.whoami', (): string => whoami.request.id);
    expect(() => whoami.request).toThrow(ImproperlyConfigured);
    expect(maybeCurrentTask()).toBeUndefined();
    await startWorker(app);
    const result = await whoami.delay();
    expect(await result.get({ timeout: 10 })).toBe(result.id);
  });

  it('passes the context first to a task registered with bind: true', async () => {
    const app = makeApp();
    const bound = app.task(
      'ctx.bound',
      (ctx: TaskContext, x: number, y: number) => ({ name: ctx.name, id: ctx.request.id, sum: x + y }),
      { bind: true, params: ['x', 'y'] },
    );
    await startWorker(app);
    const result = await bound.delay(4, 5);
    expect(await result.get({ timeout: 10 })).toEqual({ name: 'ctx.bound', id: result.id, sum: 9 });
    // Python-style keyword arguments bind after the context too.
    const byName = await app.sendTask('ctx.bound', [], { y: 1, x: 2 });
    expect(await byName.get({ timeout: 10 })).toMatchObject({ sum: 3 });
  });

  it('makes the running task the parent of what it sends', async () => {
    const app = makeApp();
    const child = app.task('ctx.child', () => currentTask().request);
    const parent = app.task('ctx.parent', async () => (await child.delay()).id);
    await startWorker(app);
    const result = await parent.delay();
    const childId = await result.get({ timeout: 10 });
    const childRequest = await app.AsyncResult<TaskRequest>(childId).get({ timeout: 10 });
    expect(childRequest.parentId).toBe(result.id);
    expect(childRequest.rootId).toBe(result.id);
  });

  it('stores a custom state with updateState, readable while the task runs', async () => {
    const app = makeApp();
    const release = gate();
    const progress = app.task('ctx.progress', async (total: number) => {
      await currentTask().updateState({ state: 'PROGRESS', meta: { current: 1, total } });
      await release.promise;
      return total;
    });
    await startWorker(app);
    const result = await progress.delay(2);
    await expect.poll(() => result.state(), { timeout: 10_000 }).toBe('PROGRESS');
    expect(await result.result()).toEqual({ current: 1, total: 2 });
    expect(await result.ready()).toBe(false);
    const meta = await result.meta();
    expect(meta.date_done).toBeNull();
    release.open();
    expect(await result.get({ timeout: 10 })).toBe(2);
    expect(await result.state()).toBe(States.SUCCESS);
  });

  it('sends custom events through the broker when the worker sends task events', async () => {
    const app = makeApp({ workerSendTaskEvents: true });
    const report = app.task('ctx.report', async () => {
      await currentTask().sendEvent('task-progress', { done: 3 });
      await report.sendEvent('task-note', { text: 'hi' });
      return 'ok';
    });
    const worker = await startWorker(app);
    const broker = await app.getBroker();
    const receiver = await tap(broker, {
      name: `ev-${Date.now()}`,
      exchange: EVENT_EXCHANGE,
      exchangeType: 'topic',
      routingKey: 'task.#',
    });
    const result = await report.delay();
    await result.get({ timeout: 10 });
    // Task events come in task.multi batches (a JSON list), as a Celery 5.2 worker sends them; a task's own
    // events one message each.
    const received = () =>
      receiver.deliveries.flatMap((d) => {
        const body = JSON.parse(d.message.body.toString('utf8')) as
          Record<string, unknown> | Record<string, unknown>[];
        return (Array.isArray(body) ? body : [body]).map((event) => ({
          key: d.routingKey,
          body: event,
          headers: d.message.headers,
        }));
      });
    await expect.poll(() => received().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
    const events = received();
    const progress = events.find((e) => e.body.type === 'task-progress')!;
    expect(progress.key).toBe('task.progress');
    expect(progress.headers).toEqual({ hostname: worker.hostname });
    expect(progress.body).toMatchObject({
      uuid: result.id,
      done: 3,
      hostname: worker.hostname,
      pid: process.pid,
      utcoffset: expect.any(Number),
      clock: expect.any(Number),
      timestamp: expect.any(Number),
    });
    expect(Object.keys(progress.body).slice(-2)).toEqual(['timestamp', 'type']);
    expect(events.map((e) => e.body.type)).toEqual(
      expect.arrayContaining(['task-received', 'task-started', 'task-note', 'task-succeeded']),
    );
    const succeeded = events.find((e) => e.body.type === 'task-succeeded')!.body;
    expect(succeeded).toMatchObject({ uuid: result.id, result: "'ok'", runtime: expect.any(Number) });
    await receiver.stop();
  });

  it('sends nothing when task events are off', async () => {
    const app = makeApp();
    const quiet = app.task('ctx.quiet', async () => {
      await currentTask().sendEvent('task-progress', { done: 1 });
      return 1;
    });
    await startWorker(app);
    const broker = await app.getBroker();
    const receiver = await tap(broker, {
      name: `ev-off-${Date.now()}`,
      exchange: EVENT_EXCHANGE,
      exchangeType: 'topic',
      // Task events only: the worker's heartbeats go out whether or not it sends task events.
      routingKey: 'task.#',
    });
    await (await quiet.delay()).get({ timeout: 10 });
    // A task sent after it went through the same broker: events published before it would have arrived already.
    await (await quiet.delay()).get({ timeout: 10 });
    expect(receiver.deliveries).toHaveLength(0);
    await receiver.stop();
  });
});
