/**
 * Time limits in the async pool: per task, per call (the `timelimit` header) and per worker. The one timed
 * assertion in these suites is the issue's: a task honouring its signal stops at its soft limit (within 100 ms on
 * an idle machine; a second is allowed here, for a loaded CI machine, still far from the 10 s it would wait).
 */
import { expect, it } from 'vitest';
import { currentTask } from '../../src/app/current-task.js';
import { SoftTimeLimitExceeded } from '../../src/errors.js';
import { delay } from '../../src/lifecycle/async.js';
import { States } from '../../src/types.js';
import { gate, onEveryDriver } from './harness.js';

onEveryDriver('time limits', ({ makeApp, startWorker }) => {
  it('aborts the signal at the soft limit: a task honouring it stops promptly and fails SoftTimeLimitExceeded', async () => {
    const app = makeApp();
    let stoppedAfter = -1;
    const polite = app.task(
      'tl.polite',
      async () => {
        const started = performance.now();
        try {
          await delay(10_000, currentTask().signal);
        } finally {
          stoppedAfter = performance.now() - started;
        }
      },
      { softTimeLimit: 0.3 },
    );
    await startWorker(app);
    const result = await polite.delay();
    await expect(result.get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'SoftTimeLimitExceeded',
      excModule: 'billiard.exceptions',
    });
    expect(stoppedAfter).toBeGreaterThanOrEqual(290);
    expect(stoppedAfter).toBeLessThan(300 + 1_000);
  });

  it('lets a task catch the soft limit and return something else', async () => {
    const app = makeApp();
    const tidy = app.task(
      'tl.tidy',
      async () => {
        const { signal } = currentTask();
        try {
          await delay(10_000, signal);
          return 'finished';
        } catch (error) {
          if (error instanceof SoftTimeLimitExceeded) return 'cleaned up';
          throw error;
        }
      },
      { softTimeLimit: 0.05 },
    );
    await startWorker(app);
    expect(await (await tidy.delay()).get({ timeout: 10 })).toBe('cleaned up');
  });

  it('fails a task ignoring its signal at the hard limit while other tasks keep completing', async () => {
    const app = makeApp();
    const never = gate();
    const stubborn = app.task(
      'tl.stubborn',
      async () => {
        await never.promise;
      },
      // A hard limit that 20 quick tasks on the one free slot reach well before, even on a loaded machine.
      { softTimeLimit: 0.1, timeLimit: 5 },
    );
    const quick = app.task('tl.quick', (n: number) => n);
    await startWorker(app, { concurrency: 2 });
    const stuck = await stubborn.delay();
    const quickOnes = await Promise.all(Array.from({ length: 20 }, (_, i) => quick.delay(i)));
    expect(await Promise.all(quickOnes.map((r) => r.get({ timeout: 10 })))).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
    // Every quick task finished while the stubborn one was still running.
    expect(await stuck.ready()).toBe(false);
    await expect(stuck.get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'TimeLimitExceeded',
      excModule: 'billiard.exceptions',
    });
    // The abandoned task's slot is free again: the worker still runs tasks.
    expect(await (await quick.delay(99)).get({ timeout: 10 })).toBe(99);
    never.open();
  });

  it('takes the limits from the message, then the task, then the worker, then the app', async () => {
    const app = makeApp({ taskSoftTimeLimit: 20 });
    const nap = async (): Promise<string> => {
      await delay(150, currentTask().signal);
      return 'rested';
    };
    app.task('tl.patient', nap, { softTimeLimit: 10 });
    app.task('tl.plain', nap);
    await startWorker(app, { softTimeLimit: 0.05 });
    // Sent by name, the message carries no limits of the task: the task's own (10 s) wins over the worker's.
    const byName = await app.sendTask('tl.patient', []);
    const header = await app.sendTask('tl.patient', [], {}, { softTimeLimit: 0.05 });
    const plain = await app.sendTask('tl.plain', []);
    expect(await byName.get({ timeout: 10 })).toBe('rested');
    // The message's timelimit header wins over the task's option.
    await expect(header.get({ timeout: 10 })).rejects.toMatchObject({ excType: 'SoftTimeLimitExceeded' });
    // No task option and none in the message: the worker's --soft-time-limit applies.
    await expect(plain.get({ timeout: 10 })).rejects.toMatchObject({ excType: 'SoftTimeLimitExceeded' });
    const limits = app.task('tl.limits', () => currentTask().request.timelimit);
    const fromCall = await limits.applyAsync([], {}, { timeLimit: 7, softTimeLimit: 6 });
    expect(await fromCall.get({ timeout: 10 })).toEqual([7, 6]);
    // The app's taskSoftTimeLimit is a worker-side default, not sent: the header stays empty, as Celery's.
    expect(await (await limits.delay()).get({ timeout: 10 })).toEqual([null, null]);
  });

  it("applies the worker app's taskSoftTimeLimit when neither message, task nor worker option sets one", async () => {
    const app = makeApp({ taskSoftTimeLimit: 0.05 });
    const nap = app.task('tl.nap', async () => {
      await delay(10_000, currentTask().signal);
    });
    await startWorker(app);
    await expect((await nap.delay()).get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'SoftTimeLimitExceeded',
    });
  });

  it('applies a per-worker soft limit to tasks without their own', async () => {
    const app = makeApp();
    const slow = app.task('tl.slow', async () => {
      await delay(10_000, currentTask().signal);
    });
    const limited = app.task(
      'tl.limited',
      async () => {
        await delay(10_000, currentTask().signal);
      },
      { softTimeLimit: 0.05 },
    );
    await startWorker(app, { softTimeLimit: 0.1 });
    await expect((await slow.delay()).get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'SoftTimeLimitExceeded',
    });
    await expect((await limited.delay()).get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'SoftTimeLimitExceeded',
    });
  });

  it('with late acks, acknowledges a timed-out task by default and rejects it without acksOnFailureOrTimeout', async () => {
    const app = makeApp();
    const never = gate();
    const acked = app.task('tl.acked', async () => never.promise, { acksLate: true, timeLimit: 0.05 });
    const dropped = app.task('tl.dropped', async () => never.promise, {
      acksLate: true,
      acksOnFailureOrTimeout: false,
      timeLimit: 0.05,
    });
    await startWorker(app);
    const a = await acked.delay();
    const d = await dropped.delay();
    await expect(a.get({ timeout: 10 })).rejects.toMatchObject({ excType: 'TimeLimitExceeded' });
    await expect(d.get({ timeout: 10 })).rejects.toMatchObject({ excType: 'TimeLimitExceeded' });
    expect(await a.state()).toBe(States.FAILURE);
    const broker = await app.getBroker();
    expect(await broker.size('celery')).toBe(0);
    never.open();
  });
});
