/** Hooks (Celery's signals) and task handlers: one ordered mechanism, the documented order, on every driver. */
import { expect, it } from 'vitest';
import type { Celery } from '../../src/app/celery.js';
import { currentTask } from '../../src/app/current-task.js';
import type { HookName } from '../../src/app/hooks.js';
import type { TaskHandlers } from '../../src/app/task.js';
import { uuid } from '../../src/protocol/ids.js';
import { States } from '../../src/types.js';
import { capturingLogger, onEveryDriver } from './harness.js';

const TASK_HOOKS: HookName[] = [
  'beforeTaskPublish',
  'afterTaskPublish',
  'taskReceived',
  'taskPrerun',
  'taskPostrun',
  'taskSuccess',
  'taskFailure',
  'taskRetry',
  'taskRevoked',
  'taskRejected',
  'taskUnknown',
];

/** Records every hook for one task id (and the worker hooks), in the order they fire. */
function record(app: Celery): { log: string[]; of(id: string): string[] } {
  const log: string[] = [];
  for (const name of TASK_HOOKS) {
    app.hooks.on(
      name,
      (payload) => void log.push(`${name}:${(payload as { taskId?: string }).taskId ?? ''}`),
    );
  }
  for (const name of ['workerInit', 'workerReady', 'workerShuttingDown', 'workerShutdown'] as const) {
    app.hooks.on(name, () => void log.push(`${name}:`));
  }
  return {
    log,
    of: (id) => log.filter((line) => line.endsWith(`:${id}`)).map((line) => line.slice(0, line.indexOf(':'))),
  };
}

/** Task handlers that log into the same list, so hooks and handlers interleave visibly. */
function handlers(log: string[]): TaskHandlers {
  return {
    beforeStart: (request) => void log.push(`beforeStart:${request.id}`),
    onSuccess: (_retval, request) => void log.push(`onSuccess:${request.id}`),
    onFailure: (_error, request) => void log.push(`onFailure:${request.id}`),
    onRetry: (_error, request) => void log.push(`onRetry:${request.id}`),
    afterReturn: (_state, _retval, request) => void log.push(`afterReturn:${request.id}`),
  };
}

onEveryDriver('hooks', ({ makeApp, startWorker }) => {
  it('fires worker hooks in order: init, ready, shutting down, shutdown', async () => {
    const app = makeApp();
    const { log } = record(app);
    const worker = await startWorker(app);
    await worker.stop();
    expect(log).toEqual(['workerInit:', 'workerReady:', 'workerShuttingDown:', 'workerShutdown:']);
  });

  it('fires task hooks and handlers in Celery order on success, failure and retry', async () => {
    const app = makeApp();
    const rec = record(app);
    const ok = app.task('hooks.ok', (x: number) => x, handlers(rec.log));
    const bad = app.task(
      'hooks.bad',
      () => {
        throw new Error('bad');
      },
      handlers(rec.log),
    );
    const again = app.task(
      'hooks.again',
      () => {
        if (currentTask().request.retries === 0) currentTask().retry({ countdown: 0 });
        return 'second';
      },
      handlers(rec.log),
    );
    // One at a time, so that the retried run cannot start while the first one is still being recorded.
    await startWorker(app, { concurrency: 1 });
    const a = await ok.delay(1);
    await a.get({ timeout: 10 });
    const b = await bad.delay();
    await expect(b.get({ timeout: 10 })).rejects.toThrow();
    const c = await again.delay();
    await c.get({ timeout: 10 });
    await expect.poll(() => rec.of(c.id).filter((n) => n === 'taskPostrun').length).toBe(2);
    await expect.poll(() => rec.of(b.id).at(-1)).toBe('taskPostrun');
    await expect.poll(() => rec.of(a.id).at(-1)).toBe('taskPostrun');
    // Producer hooks are ordered among themselves; the worker may receive the message before afterTaskPublish.
    const publishing = (id: string) => rec.of(id).filter((n) => n.endsWith('Publish'));
    const working = (id: string) => rec.of(id).filter((n) => !n.endsWith('Publish'));
    expect(publishing(a.id)).toEqual(['beforeTaskPublish', 'afterTaskPublish']);
    expect(working(a.id)).toEqual([
      'taskReceived',
      'taskPrerun',
      'beforeStart',
      'onSuccess',
      'taskSuccess',
      'afterReturn',
      'taskPostrun',
    ]);
    expect(working(b.id)).toEqual([
      'taskReceived',
      'taskPrerun',
      'beforeStart',
      'onFailure',
      'taskFailure',
      'afterReturn',
      'taskPostrun',
    ]);
    // The first run retries: no afterReturn (as Celery); the second run succeeds.
    expect(publishing(c.id)).toEqual([
      'beforeTaskPublish',
      'afterTaskPublish',
      'beforeTaskPublish',
      'afterTaskPublish',
    ]);
    // The retry message may be received (prefetched) while the first run is still being recorded.
    expect(working(c.id).filter((n) => n === 'taskReceived')).toHaveLength(2);
    expect(working(c.id).filter((n) => n !== 'taskReceived')).toEqual([
      'taskPrerun',
      'beforeStart',
      'onRetry',
      'taskRetry',
      'taskPostrun',
      'taskPrerun',
      'beforeStart',
      'onSuccess',
      'taskSuccess',
      'afterReturn',
      'taskPostrun',
    ]);
  });

  it('gives every hook its payload', async () => {
    const app = makeApp();
    const payloads = new Map<string, Record<string, unknown>>();
    for (const name of TASK_HOOKS)
      app.hooks.on(name, (p) => void payloads.set(name, p as Record<string, unknown>));
    app.task('hooks.payload', (x: number, y: number) => x * y, { params: ['x', 'y'] });
    await startWorker(app);
    // Python-style: one positional argument and one keyword argument (checked at run time, as Celery does).
    const r = await app.sendTask<number>('hooks.payload', [6], { y: 7 }, { queue: 'celery' });
    expect(await r.get({ timeout: 10 })).toBe(42);
    await expect.poll(() => payloads.has('taskPostrun')).toBe(true);
    expect(payloads.get('beforeTaskPublish')).toMatchObject({
      taskId: r.id,
      taskName: 'hooks.payload',
      exchange: '',
      routingKey: 'celery',
      headers: expect.objectContaining({ id: r.id, task: 'hooks.payload' }),
      properties: expect.objectContaining({ correlation_id: r.id }),
    });
    expect(payloads.get('afterTaskPublish')).toEqual({
      taskId: r.id,
      taskName: 'hooks.payload',
      exchange: '',
      routingKey: 'celery',
    });
    expect(payloads.get('taskReceived')).toMatchObject({
      taskId: r.id,
      request: expect.objectContaining({ id: r.id }),
    });
    expect(payloads.get('taskPrerun')).toMatchObject({ taskId: r.id, args: [6], kwargs: { y: 7 } });
    expect(payloads.get('taskSuccess')).toMatchObject({ taskId: r.id, result: 42 });
    expect(payloads.get('taskPostrun')).toMatchObject({
      retval: 42,
      state: States.SUCCESS,
      args: [6],
      kwargs: { y: 7 },
    });
  });

  it('fires taskUnknown, taskRejected and taskRevoked for messages that do not run', async () => {
    const app = makeApp();
    const rec = record(app);
    app.task('hooks.exists', () => 1);
    await startWorker(app);
    const unknown = await app.sendTask('hooks.missing', []);
    const expired = await app.sendTask('hooks.exists', [], {}, { expires: new Date(Date.now() - 1000) });
    const broker = await app.getBroker();
    const invalidId = uuid();
    await broker.publish(
      {
        headers: { task: 'hooks.exists', id: invalidId },
        properties: {},
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        body: Buffer.from('not json'),
      },
      { exchange: '', routingKey: 'celery' },
    );
    await expect.poll(() => rec.of(unknown.id), { timeout: 10_000 }).toContain('taskUnknown');
    await expect.poll(() => rec.of(expired.id), { timeout: 10_000 }).toContain('taskRevoked');
    await expect.poll(() => rec.of(invalidId), { timeout: 10_000 }).toEqual(['taskRejected']);
    expect(rec.of(expired.id)).not.toContain('taskReceived');
  });

  it('logs a throwing hook or handler and still runs the task and the other hooks', async () => {
    const { logger, lines } = capturingLogger();
    const app = makeApp();
    app.logger = logger;
    const after: string[] = [];
    app.hooks.on('taskPrerun', () => {
      throw new Error('prerun hook broke');
    });
    app.hooks.on('taskPrerun', () => void after.push('second prerun handler ran'));
    app.hooks.on('beforeTaskPublish', async () => {
      throw new Error('publish hook broke');
    });
    const t = app.task('hooks.sturdy', () => 'fine', {
      onSuccess: () => {
        throw new Error('onSuccess broke');
      },
    });
    await startWorker(app, { logger });
    const r = await t.delay();
    expect(await r.get({ timeout: 10 })).toBe('fine');
    expect(after).toEqual(['second prerun handler ran']);
    await expect
      .poll(() => lines.map((l) => l.msg).filter((m) => m.includes('broke')))
      .toEqual([
        'beforeTaskPublish hook failed: publish hook broke',
        'taskPrerun hook failed: prerun hook broke',
        expect.stringMatching(/^onSuccess handler of hooks\.sturdy\[.*\] failed: onSuccess broke$/),
      ]);
  });

  it('lets beforeTaskPublish add headers that reach the task', async () => {
    const app = makeApp();
    app.hooks.on('beforeTaskPublish', ({ headers }) => {
      headers['x-tenant'] = 'acme';
    });
    const t = app.task('hooks.tenant', () => currentTask().request.headers['x-tenant']);
    await startWorker(app);
    expect(await (await t.delay()).get({ timeout: 10 })).toBe('acme');
  });

  it('removes a handler with the function on() returns', async () => {
    const app = makeApp();
    const seen: string[] = [];
    const off = app.hooks.on('taskSuccess', () => void seen.push('a'));
    app.hooks.on('taskSuccess', () => void seen.push('b'));
    off();
    off();
    const t = app.task('hooks.off', () => 1);
    await startWorker(app);
    await (await t.delay()).get({ timeout: 10 });
    await expect.poll(() => seen).toEqual(['b']);
  });
});
