/** Acknowledgement settings: early and late acks, acksOnFailureOrTimeout, rejectOnWorkerLost, deduplication. */
import { expect, it } from 'vitest';
import { currentTask } from '../../src/app/current-task.js';
import type { Celery } from '../../src/app/celery.js';
import { WorkerLostError } from '../../src/errors.js';
import { States } from '../../src/types.js';
import { gate, onEveryDriver } from './harness.js';

async function deadLetterReasons(app: Celery, queue = 'celery'): Promise<string[]> {
  const broker = (await app.getBroker()) as unknown as {
    deadLetters: { reason: string }[] | ((queue: string) => { reason: string }[]);
  };
  const list = typeof broker.deadLetters === 'function' ? broker.deadLetters(queue) : broker.deadLetters;
  return list.map((d) => d.reason);
}

onEveryDriver('acks', ({ makeApp, startWorker }) => {
  it('acknowledges early by default: a running task is not given back by a cold shutdown', async () => {
    const app = makeApp();
    const started = gate();
    const never = gate();
    const early = app.task('ack.early', async () => {
      started.open();
      await never.promise;
    });
    const worker = await startWorker(app);
    await early.delay();
    await started.promise;
    await worker.stop({ cold: true });
    const broker = await app.getBroker();
    expect(await broker.size('celery')).toBe(0);
    never.open();
  });

  it('acknowledges late with acksLate (task option or taskAcksLate): a cold shutdown gives it back', async () => {
    for (const [options, taskOptions] of [
      [{}, { acksLate: true }],
      [{ taskAcksLate: true }, {}],
    ] as const) {
      const app = makeApp(options);
      const started = gate();
      const never = gate();
      const late = app.task(
        'ack.late',
        async () => {
          started.open();
          await never.promise;
        },
        taskOptions,
      );
      const worker = await startWorker(app);
      await late.delay();
      await started.promise;
      await worker.stop({ cold: true });
      const broker = await app.getBroker();
      expect(await broker.size('celery')).toBe(1);
      await broker.purge('celery');
      never.open();
    }
  });

  it('with acksLate, acknowledges a failure by default and rejects it without acksOnFailureOrTimeout', async () => {
    const app = makeApp();
    const fails = app.task(
      'ack.fails',
      () => {
        throw new Error('once');
      },
      { acksLate: true },
    );
    const dropped = app.task(
      'ack.dropped',
      () => {
        throw new Error('dead');
      },
      { acksLate: true, acksOnFailureOrTimeout: false },
    );
    await startWorker(app);
    await expect((await fails.delay()).get({ timeout: 10 })).rejects.toThrow();
    await expect((await dropped.delay()).get({ timeout: 10 })).rejects.toThrow();
    await expect.poll(() => deadLetterReasons(app), { timeout: 10_000 }).toEqual(['task-failed']);
  });

  it('requeues a task whose worker was lost with rejectOnWorkerLost, and fails it without', async () => {
    const app = makeApp();
    const runs: boolean[] = [];
    const lost = app.task(
      'ack.lost',
      () => {
        const { redelivered } = currentTask().request.deliveryInfo;
        runs.push(redelivered);
        // The pools report a dead thread or child process as WorkerLostError; the settings decide what follows.
        if (!redelivered) throw new WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL)');
        return 'second run';
      },
      { acksLate: true, rejectOnWorkerLost: true },
    );
    const failed = app.task(
      'ack.lostFailed',
      () => {
        throw new WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL)');
      },
      { acksLate: true },
    );
    await startWorker(app);
    expect(await (await lost.delay()).get({ timeout: 10 })).toBe('second run');
    expect(runs).toEqual([false, true]);
    await expect((await failed.delay()).get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'WorkerLostError',
      excModule: 'billiard.exceptions',
    });
  });

  it('takes rejectOnWorkerLost and acksOnFailureOrTimeout from the configuration', async () => {
    const app = makeApp({
      taskAcksLate: true,
      taskRejectOnWorkerLost: true,
      taskAcksOnFailureOrTimeout: false,
    });
    let calls = 0;
    const lost = app.task('ack.confLost', () => {
      calls++;
      if (calls === 1) throw new WorkerLostError('lost');
      throw new Error('then failed');
    });
    await startWorker(app);
    await expect((await lost.delay()).get({ timeout: 10 })).rejects.toMatchObject({
      remoteMessage: 'then failed',
    });
    expect(calls).toBe(2);
    await expect.poll(() => deadLetterReasons(app), { timeout: 10_000 }).toEqual(['task-failed']);
  });

  it('skips a redelivered late-ack task that already succeeded, with workerDeduplicateSuccessfulTasks', async () => {
    for (const dedupe of [true, false]) {
      const app = makeApp({ workerDeduplicateSuccessfulTasks: dedupe });
      let calls = 0;
      const once = app.task('ack.once', () => ++calls, { acksLate: true });
      let worker = await startWorker(app);
      // The worker dies after storing SUCCESS but before acknowledging: the message comes back redelivered.
      const off = app.hooks.on('taskPostrun', async () => {
        off();
        await worker.stop({ cold: true });
      });
      const result = await once.delay();
      await worker.done;
      expect(await result.state()).toBe(States.SUCCESS);
      const postrun: string[] = [];
      app.hooks.on('taskPostrun', ({ state }) => void postrun.push(state));
      worker = await startWorker(app);
      const broker = await app.getBroker();
      await expect.poll(() => broker.size('celery'), { timeout: 10_000 }).toBe(0);
      if (dedupe) {
        // Nothing ran a second time; give the worker a task behind it to be sure it was consumed.
        const after = await once.delay();
        await after.get({ timeout: 10 });
        expect(calls).toBe(2);
        await expect.poll(() => postrun).toEqual([States.SUCCESS]);
      } else {
        await expect.poll(() => calls, { timeout: 10_000 }).toBe(2);
      }
      expect(await result.get()).toBe(1);
      await worker.stop();
    }
  });
});
