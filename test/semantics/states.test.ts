/** Task states: PENDING, STARTED, custom, SUCCESS, FAILURE, REVOKED, ignoreResult and friends, on every driver. */
import { expect, it } from 'vitest';
import { currentTask } from '../../src/app/current-task.js';
import { States } from '../../src/types.js';
import { gate, onEveryDriver } from './harness.js';

onEveryDriver('states', ({ driver, makeApp, startWorker }) => {
  it('reports PENDING for an id nothing was stored for', async () => {
    const app = makeApp();
    const result = app.AsyncResult('no-such-task');
    expect(await result.state()).toBe(States.PENDING);
    expect(await result.result()).toBeNull();
  });

  it('stores STARTED before the task body and beforeStart run, as Celery does', async () => {
    const app = makeApp();
    const seen: string[] = [];
    const probe = app.task(
      'states.probe',
      async () => {
        seen.push(`body:${await app.AsyncResult(currentTask().request.id).state()}`);
        return 'ok';
      },
      {
        trackStarted: true,
        beforeStart: async (request) => {
          seen.push(`beforeStart:${await app.AsyncResult(request.id).state()}`);
        },
      },
    );
    await startWorker(app);
    expect(await (await probe.delay()).get({ timeout: 10 })).toBe('ok');
    expect(seen).toEqual(['beforeStart:STARTED', 'body:STARTED']);
  });

  it('stores STARTED with pid and hostname when trackStarted is on, then SUCCESS', async () => {
    const app = makeApp();
    const release = gate();
    const tracked = app.task(
      'states.tracked',
      async () => {
        await release.promise;
        return 'done';
      },
      { trackStarted: true },
    );
    const untracked = app.task('states.untracked', async () => {
      await release.promise;
      return 'done';
    });
    const worker = await startWorker(app);
    const a = await tracked.delay();
    const b = await untracked.delay();
    await expect.poll(() => a.state(), { timeout: 10_000 }).toBe(States.STARTED);
    expect(await a.result()).toEqual({ pid: process.pid, hostname: worker.hostname });
    expect(await b.state()).toBe(States.PENDING);
    release.open();
    expect(await a.get({ timeout: 10 })).toBe('done');
    expect(await a.state()).toBe(States.SUCCESS);
  });

  it('applies taskTrackStarted from the configuration', async () => {
    const app = makeApp({ taskTrackStarted: true });
    const release = gate();
    const t = app.task('states.conf', async () => release.promise);
    await startWorker(app);
    const r = await t.delay();
    await expect.poll(() => r.state(), { timeout: 10_000 }).toBe(States.STARTED);
    release.open();
    await r.get({ timeout: 10 });
  });

  it('shows custom states to get() callers through onProgress', async () => {
    const app = makeApp();
    const steps = app.task('states.steps', async (n: number) => {
      for (let i = 1; i <= n; i++)
        await currentTask().updateState({ state: 'PROGRESS', meta: { current: i, total: n } });
      return n;
    });
    await startWorker(app);
    const result = await steps.delay(3);
    const seen: unknown[] = [];
    expect(
      await result.get({ timeout: 10, interval: 0.005, onProgress: (meta) => seen.push(meta.result) }),
    ).toBe(3);
    for (const item of seen) expect(item).toMatchObject({ total: 3 });
  });

  it('stores FAILURE with the error type, message and traceback', async () => {
    const app = makeApp();
    const boom = app.task('states.boom', () => {
      throw new RangeError('out of range');
    });
    await startWorker(app);
    const result = await boom.delay();
    await expect(result.get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'RangeError',
      remoteMessage: 'out of range',
    });
    const meta = await result.meta();
    expect(meta.status).toBe(States.FAILURE);
    expect(meta.traceback).toContain('RangeError: out of range');
    expect(meta.date_done).not.toBeNull();
    expect(await result.failed()).toBe(true);
  });

  it('stores nothing with ignoreResult (task option or calling option)', async () => {
    const app = makeApp();
    const quiet = app.task('states.quiet', () => 1, { ignoreResult: true });
    const loud = app.task('states.loud', () => 2);
    const postrun: string[] = [];
    app.hooks.on('taskPostrun', ({ taskId }) => void postrun.push(taskId));
    await startWorker(app);
    const a = await quiet.delay();
    const b = await loud.applyAsync([], {}, { ignoreResult: true });
    await expect.poll(() => postrun.length, { timeout: 10_000 }).toBe(2);
    expect(await a.state()).toBe(States.PENDING);
    expect(await b.state()).toBe(States.PENDING);
    await expect(a.get()).rejects.toThrow(/ignoreResult/);
  });

  it('stores errors of ignoreResult tasks only with storeErrorsEvenIfIgnored', async () => {
    const app = makeApp();
    const postrun: string[] = [];
    app.hooks.on('taskPostrun', ({ taskId }) => void postrun.push(taskId));
    const silent = app.task(
      'states.silentFail',
      () => {
        throw new Error('hidden');
      },
      { ignoreResult: true },
    );
    const kept = app.task(
      'states.keptFail',
      () => {
        throw new Error('kept');
      },
      { ignoreResult: true, storeErrorsEvenIfIgnored: true },
    );
    await startWorker(app);
    const a = await silent.delay();
    const b = await kept.delay();
    await expect.poll(() => postrun.length, { timeout: 10_000 }).toBe(2);
    expect(await a.state()).toBe(States.PENDING);
    expect(await b.state()).toBe(States.FAILURE);
  });

  it('never overwrites a SUCCESS: a later run of the same id that fails leaves it', async () => {
    const app = makeApp();
    let calls = 0;
    const once = app.task('states.once', () => {
      calls++;
      if (calls > 1) throw new Error('second run');
      return 'first';
    });
    const postrun: string[] = [];
    app.hooks.on('taskPostrun', ({ state }) => void postrun.push(state));
    await startWorker(app);
    const first = await once.applyAsync([], {}, { taskId: 'states-same-id' });
    expect(await first.get({ timeout: 10 })).toBe('first');
    await once.applyAsync([], {}, { taskId: 'states-same-id' });
    await expect.poll(() => postrun, { timeout: 10_000 }).toEqual([States.SUCCESS, States.FAILURE]);
    expect(await first.state()).toBe(States.SUCCESS);
    expect(await first.get()).toBe('first');
  });

  it('records an expired task as REVOKED (expired) without running it', async () => {
    const app = makeApp();
    const revoked: { expired: boolean; taskId: string }[] = [];
    const received: string[] = [];
    app.hooks.on('taskRevoked', ({ expired, taskId }) => void revoked.push({ expired, taskId }));
    app.hooks.on('taskReceived', ({ taskId }) => void received.push(taskId));
    let ran = false;
    const late = app.task('states.late', () => {
      ran = true;
    });
    const result = await late.applyAsync([], {}, { expires: new Date(Date.now() - 1000) });
    const soon = await late.applyAsync([], {}, { expires: 0.05, countdown: 0.2 });
    await startWorker(app);
    await expect(result.get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'TaskRevokedError',
      remoteMessage: 'expired',
    });
    await expect(soon.get({ timeout: 10 })).rejects.toMatchObject({ excType: 'TaskRevokedError' });
    expect(await result.state()).toBe(States.REVOKED);
    expect(ran).toBe(false);
    expect(revoked).toContainEqual({ expired: true, taskId: result.id });
    expect(received).not.toContain(result.id);
  });

  it('shows RETRY with the error given to retry(), or null without one', async () => {
    const app = makeApp();
    const withExc = app.task('states.retryExc', () =>
      currentTask().retry({ countdown: 60, exc: new TypeError('later') }),
    );
    const bare = app.task('states.retryBare', () => currentTask().retry({ countdown: 60 }));
    await startWorker(app);
    const a = await withExc.delay();
    const b = await bare.delay();
    await expect.poll(() => a.state(), { timeout: 10_000 }).toBe(States.RETRY);
    await expect.poll(() => b.state(), { timeout: 10_000 }).toBe(States.RETRY);
    expect(await a.result()).toMatchObject({ excType: 'TypeError', remoteMessage: 'later' });
    expect(await b.result()).toBeNull();
    expect((await a.meta()).children).toEqual([[[a.id, null], null]]);
  });

  it('drops updateState calls of a task abandoned at its hard time limit', async () => {
    const app = makeApp();
    const release = gate();
    let after: Promise<void> | undefined;
    const stuck = app.task(
      'states.stuck',
      async () => {
        const ctx = currentTask();
        await release.promise;
        after = ctx.updateState({ state: 'PROGRESS', meta: { late: true } });
        await after;
      },
      { timeLimit: 0.1 },
    );
    await startWorker(app);
    const result = await stuck.delay();
    await expect(result.get({ timeout: 10 })).rejects.toMatchObject({ excType: 'TimeLimitExceeded' });
    release.open();
    await expect.poll(() => after !== undefined).toBe(true);
    await after;
    expect(await result.state()).toBe(States.FAILURE);
  });

  it.runIf(driver === 'sqlite')(
    'stores FAILURE EncodeError when the result cannot be encoded, instead of leaving PENDING',
    async () => {
      const app = makeApp();
      const bytes = app.task('states.bytes', () => ({ data: Buffer.from('hi') }));
      await startWorker(app);
      const result = await bytes.delay();
      const error = await result.get({ timeout: 10, propagate: false });
      expect(await result.state()).toBe(States.FAILURE);
      expect(error).toMatchObject({ excType: 'EncodeError' });
    },
  );
});
