/**
 * The battery's B5 and B11 in short, on a private redis-server: a warm shutdown (SIGTERM to the worker's main
 * pid) in the middle of a run loses and repeats nothing; a crash and restart of Redis itself (kill -9, AOF with
 * fsync always) under late acks loses nothing, and the worker reconnects by itself.
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

  it('Redis kill -9 and restart with acksLate: nothing lost, duplicates no more than in flight', async () => {
    const run = newRun();
    const N = 200;
    await run.send(N, { late: true, ms: (i) => 20 + (i % 4) * 10 });
    const worker = run.startWorker(['-P', 'async', '-c', '4']);
    await worker.ready();
    expect(await until(() => run.finished() >= 40, 60_000, 20)).toBe(true);
    const inFlight = run.inFlight();
    await redis().kill();
    await redis().launch();
    expect(await until(async () => (await run.settled()) === N, 120_000, 250)).toBe(true);
    const counts = await run.counts();
    expect(counts.lost).toBe(0);
    expect(counts.duplicated).toBeLessThanOrEqual(Math.max(inFlight, 4));
    expect(worker.proc.child.exitCode).toBeNull();
  }, 180_000);
});
