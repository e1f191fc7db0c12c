/**
 * A task's crash is the task's failure, never the worker's (issue 15; the battery's B4/B15 for tasks): a task
 * that throws from a timer, leaves a rejection unhandled or calls process.exit(), in each pool, among normal
 * tasks. The worker keeps running, the poison ends FAILURE, every normal task completes once. Then a poison that
 * truly kills its process (SIGKILL to itself, as the OOM killer would) with late acks: the supervisor (here the
 * test) restarts the worker, and after maxWorkerLostRequeues deaths the message is dead-lettered and FAILURE.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { uuid } from '../../src/protocol/ids.js';
import { States } from '../../src/types.js';
import { tempDir } from '../support/tmp.js';
import { ChaosRun, until } from './harness.js';

const dir = tempDir('chaos-poison');
const runs: ChaosRun[] = [];

function newRun(): ChaosRun {
  const db = `sqlite://${join(dir.path, `${uuid().slice(0, 8)}.db`)}`;
  const run = new ChaosRun({ broker: db, env: { CHAOS_POLLING: '0.02' } });
  runs.push(run);
  return run;
}

afterEach(async () => {
  for (const run of runs.splice(0)) await run.close();
});
afterAll(() => dir.remove());

const KINDS = ['timer', 'rejection', 'exit'] as const;

describe.each(['async', 'solo', 'threads', 'prefork'] as const)('poison tasks in the %s pool', (pool) => {
  it('fail as FAILURE; the worker keeps running and every normal task completes once', async () => {
    const run = newRun();
    const N = 60;
    const app = run.app();
    const concurrency = pool === 'solo' ? '1' : '2';
    const worker = run.startWorker(['-P', pool, '-c', concurrency]);
    await worker.ready();
    await run.send(N / 2, { ms: () => 5 });
    const poisons = await Promise.all(
      KINDS.map((kind) => app.sendTask('chaos.poison', [kind], {}, { queue: run.queue })),
    );
    await run.send(N / 2, { ms: () => 5 });
    expect(await until(() => run.finished() === N, 90_000, 100)).toBe(true);
    for (const poison of poisons) {
      await expect.poll(async () => await poison.state(), { timeout: 30_000 }).toBe(States.FAILURE);
    }
    const counts = await run.counts();
    expect(counts).toMatchObject({ sent: N, once: N, duplicated: 0, lost: 0 });
    expect(worker.proc.child.exitCode).toBeNull();
    // No raw Node crash report anywhere (what an uncaught error prints when it takes the process down).
    expect(worker.proc.output()).not.toMatch(/triggerUncaughtException|^Node\.js v\d+/m);
  }, 150_000);
});

describe('a poison task that kills its worker process, with late acks', () => {
  // The record task that starts beside the poison dies with it and is counted too; it then runs alone (as the
  // poison does) and completes, so only the poison reaches the limit.
  it('is dead-lettered and FAILURE after maxWorkerLostRequeues deaths; the other tasks complete', async () => {
    const run = newRun();
    const app = run.app();
    const poison = await app.sendTask('chaos.poison_late', ['kill'], {}, { queue: run.queue });
    await run.send(20, { late: true, ms: () => 5 });
    let starts = 0;
    // The supervisor: start the worker again whenever it dies, until the poison is settled.
    for (; starts < 8; starts++) {
      const worker = run.startWorker(['-P', 'async', '-c', '2']);
      const ended = await until(
        async () =>
          worker.proc.child.exitCode !== null ||
          worker.proc.child.signalCode !== null ||
          (await poison.state()) === States.FAILURE,
        60_000,
        100,
      );
      expect(ended).toBe(true);
      if ((await poison.state()) === States.FAILURE) break;
    }
    expect(await poison.state()).toBe(States.FAILURE);
    // Four deaths (the default maxWorkerLostRequeues is 3), then the fifth worker dead-letters it.
    expect(starts).toBe(4);
    expect(await until(() => run.finished() === 20, 60_000, 100)).toBe(true);
    expect(await run.counts()).toMatchObject({ once: 20, duplicated: 0, lost: 0 });
    expect(run.workers.at(-1)!.proc.output()).toMatch(/died 4 times .*dead-lettered/);
  }, 300_000);
});
