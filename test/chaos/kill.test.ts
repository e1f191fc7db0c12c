/**
 * The battery's B2 and B3 in short (reliability brief §6.2): kill -9 of the whole worker process group while tasks
 * run, on a private Redis, then a new worker. Early acks: nothing silently lost; the tasks that were running are
 * FAILURE WorkerLostError (found in the dead worker's journal), never PENDING. Late acks: nothing lost, and only
 * the deliveries Redis still held unacknowledged at the kill (those in flight) run again.
 */
import { describe, expect, it } from 'vitest';
import { until } from './harness.js';
import { privateRedisRuns } from './private-redis-runs.js';

const { newRun } = privateRedisRuns(4);

describe.each([
  { late: false, label: 'early acks' },
  { late: true, label: 'late acks' },
])('kill -9 of the worker group with $label (Redis)', ({ late }) => {
  it(
    late
      ? 'loses nothing; re-runs only what Redis held unacknowledged at the kill'
      : 'loses nothing silently: the running tasks are FAILURE WorkerLostError',
    async () => {
      const run = newRun();
      const N = 300;
      await run.send(N, { late, ms: (i) => 20 + (i % 5) * 15 });
      const first = run.startWorker(['-P', 'async', '-c', '8']);
      await first.ready();
      expect(await until(() => run.finished() >= 60, 60_000)).toBe(true);
      await first.killGroup('SIGKILL');
      const inFlight = run.inFlight();
      const held = await run.heldUnacked();
      const second = run.startWorker(['-P', 'async', '-c', '8']);
      await second.ready();
      expect(await until(async () => (await run.settled()) === N, 90_000, 250)).toBe(true);
      const counts = await run.counts();
      expect(counts.lost).toBe(0);
      expect(counts.silent).toBe(0);
      if (late) {
        expect(counts.failed).toBe(0);
        // Only what the broker still held unacknowledged at the kill runs again: the tasks in flight, and any that
        // recorded `done` in the instant before the kill, before their ack reached Redis.
        for (const i of run.duplicatedIds()) expect(held).toContain(i);
        expect(counts.duplicated).toBeLessThanOrEqual(held.size);
      } else {
        expect(counts.duplicated).toBe(0);
        // In flight at the fault: at most the concurrency (acknowledged, possibly before recording their start).
        expect(counts.failed).toBeGreaterThanOrEqual(inFlight);
        expect(counts.failed).toBeLessThanOrEqual(8);
        for (const type of counts.failures.keys()) expect(type).toBe('WorkerLostError');
        expect(second.proc.output()).toMatch(/died with \d+ task\(s\) started/);
      }
    },
    180_000,
  );
});
