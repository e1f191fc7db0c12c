/**
 * The battery's B5 and B11 in short, on a private redis-server: a warm shutdown (SIGTERM to the worker's main
 * pid) in the middle of a run loses and repeats nothing; a crash and restart of Redis itself (kill -9, AOF with
 * fsync always) under late acks loses nothing, re-runs only deliveries Redis held unacknowledged at the crash, and
 * the worker reconnects by itself.
 */
import { describe, expect, it } from 'vitest';
import { until } from './harness.js';
import { privateRedisRuns } from './private-redis-runs.js';

const { newRun, redis } = privateRedisRuns(5);

describe('chaos on a private Redis', () => {
  it('SIGTERM to the main pid: warm shutdown, exit 0, every task exactly once', async () => {
    const run = newRun();
    const N = 200;
    await run.send(N, { ms: (i) => 20 + (i % 4) * 10 });
    const first = run.startWorker(['-P', 'async', '-c', '4']);
    await first.ready();
    expect(await until(() => run.finished() >= 40, 60_000, 20)).toBe(true);
    first.proc.kill('SIGTERM');
    expect(await first.proc.exited()).toBe(0);
    const second = run.startWorker(['-P', 'async', '-c', '4']);
    await second.ready();
    expect(await until(() => run.finished() === N, 90_000, 100)).toBe(true);
    const counts = await run.counts();
    expect(counts).toMatchObject({ sent: N, once: N, duplicated: 0, reexecuted: 0, lost: 0 });
  }, 180_000);

  it('Redis kill -9 and restart with acksLate: nothing lost, re-runs only what Redis held unacknowledged', async () => {
    const run = newRun();
    const N = 200;
    await run.send(N, { late: true, ms: (i) => 20 + (i % 4) * 10 });
    const worker = run.startWorker(['-P', 'async', '-c', '4']);
    await worker.ready();
    expect(await until(() => run.finished() >= 40, 60_000, 20)).toBe(true);
    // The worker group is stopped for the instant of the kill, so that what Redis holds unacknowledged is read at
    // the very state the crash leaves (AOF, fsync always): no delivery or ack slips in between the read and the kill.
    process.kill(-worker.pid, 'SIGSTOP');
    const held = await run.heldUnacked();
    await redis().kill();
    process.kill(-worker.pid, 'SIGCONT');
    await redis().launch();
    expect(await until(async () => (await run.settled()) === N, 120_000, 250)).toBe(true);
    const counts = await run.counts();
    expect(counts.lost).toBe(0);
    // Only what Redis held unacknowledged at the kill runs again: the tasks in flight, any that recorded `done` before
    // their ack reached Redis, and (if the outage outlasts the visibility timeout) held ones restored meanwhile.
    for (const i of run.duplicatedIds()) expect(held).toContain(i);
    expect(counts.duplicated).toBeLessThanOrEqual(held.size);
    expect(worker.proc.child.exitCode).toBeNull();
  }, 180_000);
});
