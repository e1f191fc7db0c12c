import { afterEach, describe, expect, it } from 'vitest';
// The public entry point: it loads remote control, which sends the revoke below.
import { Celery } from '../index.js';
import { silentLogger } from '../lifecycle/logger.js';
import { uuid } from '../protocol/ids.js';
import { encodeTaskMessage } from '../protocol/message.js';
import { States } from '../types.js';
import { Worker } from './worker.js';

function makeApp(): Celery {
  const ns = uuid();
  const app = new Celery('revokes', { broker: `memory://${ns}`, backend: `memory://${ns}` });
  app.logger = silentLogger();
  return app;
}

describe('revoked ids', () => {
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });

  async function start(app: Celery, concurrency = 4): Promise<Worker> {
    const worker = new Worker(app, { logger: silentLogger(), concurrency });
    workers.push(worker);
    await worker.start();
    return worker;
  }

  function tracked(app: Celery): { ran: string[]; revoked: { taskId: string; expired: boolean }[] } {
    const seen = { ran: [] as string[], revoked: [] as { taskId: string; expired: boolean }[] };
    app.hooks.on('taskRevoked', ({ taskId, expired }) => void seen.revoked.push({ taskId, expired }));
    return seen;
  }

  it('discards a request whose id is revoked when it arrives: REVOKED, never run, acknowledged', async () => {
    const app = makeApp();
    const seen = tracked(app);
    const job = app.task('tasks.job', (n: number) => void seen.ran.push(String(n)));
    const worker = await start(app);
    const id = uuid();
    worker.workerState!.revoked.add(id);
    const result = await job.applyAsync([1], {}, { taskId: id });
    await expect(result.get({ timeout: 5 })).rejects.toMatchObject({
      excType: 'TaskRevokedError',
      remoteMessage: 'revoked',
    });
    expect(await result.state()).toBe(States.REVOKED);
    expect(await (await job.delay(2)).get({ timeout: 5 })).toBeNull();
    expect(seen.ran).toEqual(['2']);
    await expect.poll(() => seen.revoked).toEqual([{ taskId: id, expired: false }]);
    expect(await (await app.getBroker()).size('celery')).toBe(0);
  });

  it('discards a request revoked while it waited for a pool slot, before it runs', async () => {
    const app = makeApp();
    const seen = tracked(app);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const blocker = app.task('tasks.blocker', () => gate);
    const job = app.task('tasks.job', () => void seen.ran.push('job'));
    const worker = await start(app, 1);
    const first = await blocker.delay();
    await expect.poll(() => worker.active).toBe(1);
    const waiting = await job.delay();
    await expect.poll(() => worker.workerState!.reserved.size).toBe(1);
    worker.workerState!.revoked.add(waiting.id);
    open();
    await first.get({ timeout: 5 });
    await expect(waiting.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'TaskRevokedError' });
    expect(seen.ran).toEqual([]);
  });

  it('discards a countdown task revoked while it waited for its ETA', async () => {
    const app = makeApp();
    const seen = tracked(app);
    app.task('tasks.job', () => void seen.ran.push('job'));
    const worker = await start(app);
    // Published without the memory broker's delayed delivery, so that the worker holds it for its ETA, as it
    // does on Redis. Far enough ahead that a stalled machine cannot reach it before the revoke; the revoke (remote
    // control's, as `celery control revoke` sends it) ends the wait at once.
    const id = uuid();
    const eta = Date.now() + 5_000;
    const wire = encodeTaskMessage(
      { id, task: 'tasks.job', args: [], kwargs: {}, eta, origin: 'test', replyTo: '' },
      { serializer: 'json', now: Date.now() },
    );
    await (await app.getBroker()).publish(wire, { exchange: '', routingKey: 'celery' });
    await expect.poll(() => worker.workerState!.scheduled.size).toBe(1);
    expect(worker.stats().prefetch_count).toBe(worker.prefetch + 1);
    await app.revoke([id]);
    await expect(app.AsyncResult(id).get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'TaskRevokedError',
    });
    // Discarded on the revoke, not when its ETA came.
    expect(Date.now()).toBeLessThan(eta);
    expect(seen.ran).toEqual([]);
    expect(worker.workerState!.scheduled.size).toBe(0);
    // The ETA credit is given back once the request has left (after its REVOKED was stored and acknowledged).
    await expect.poll(() => worker.stats().prefetch_count).toBe(worker.prefetch);
  });

  it('still discards expired requests, with reason "expired"', async () => {
    const app = makeApp();
    const seen = tracked(app);
    const job = app.task('tasks.job', () => void seen.ran.push('job'));
    await start(app);
    const result = await job.applyAsync([], {}, { expires: new Date(Date.now() - 1000) });
    await expect(result.get({ timeout: 5 })).rejects.toMatchObject({ remoteMessage: 'expired' });
    await expect.poll(() => seen.revoked).toEqual([{ taskId: result.id, expired: true }]);
    expect(seen.ran).toEqual([]);
  });
});
