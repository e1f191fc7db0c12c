/**
 * What the threads and prefork pools must both do, written once and run by pools-threads.test.ts and
 * pools-prefork.test.ts: an in-process Worker (so stats are observable) whose children load the fixture app
 * themselves, on a SQLite broker and backend private to the test file. Executions are counted in a record file
 * outside the broker.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { SqliteBroker } from '../../src/brokers/sqlite/sqlite-broker.js';
import { createLogger, silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { Worker, type WorkerOptions } from '../../src/worker/worker.js';
import { app } from './fixtures/pool-app.js';
import { tempDir } from '../support/tmp.js';

export const FIXTURE = fileURLToPath(new URL('./fixtures/pool-app.ts', import.meta.url));

export interface PoolHarness {
  readonly dir: string;
  /** Starts a worker on a fresh queue, its children recording into a fresh file. */
  start(options?: WorkerOptions): Promise<{ worker: Worker; queue: string; lines: string[]; record: string }>;
  /** Lines of a record file. */
  recorded(record: string): string[];
}

export function poolHarness(kind: 'threads' | 'prefork'): PoolHarness {
  const dir = tempDir(`pools-${kind}`);
  const db = `sqlite://${join(dir.path, 'celeriac.db')}`;
  // Before the app's configuration is first compiled, here and in every child (children inherit the environment).
  process.env.CELERIAC_BROKER_URL = db;
  process.env.CELERIAC_RESULT_BACKEND = db;
  app.logger = silentLogger();
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ cold: true })));
  });
  afterAll(async () => {
    await app.close();
    dir.remove();
  });
  return {
    dir: dir.path,
    async start(options = {}) {
      const queue = `q-${uuid().slice(0, 8)}`;
      const record = join(dir.path, `${queue}.record`);
      process.env.RECORD_FILE = record;
      const lines: string[] = [];
      const logger = createLogger({ level: 'info', destination: { write: (line) => lines.push(line) } });
      const worker = new Worker(app, {
        pool: kind,
        concurrency: 2,
        appModule: FIXTURE,
        queues: [queue],
        logger,
        ...options,
      });
      workers.push(worker);
      await worker.start();
      return { worker, queue, lines, record };
    },
    recorded(record) {
      return existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean) : [];
    },
  };
}

/** How many times each of 0..n-1 appears (numbers only). */
export function counts(lines: readonly string[], n: number): number[] {
  const seen = new Array<number>(n).fill(0);
  for (const line of lines) {
    const i = Number(line);
    if (Number.isInteger(i) && i >= 0 && i < n) seen[i]!++;
  }
  return seen;
}

async function send(name: string, args: unknown[], queue: string, options = {}) {
  return app.sendTask(name, args, {}, { queue, ...options });
}

async function sendMany(name: string, from: number, to: number, queue: string): Promise<void> {
  for (let i = from; i < to; i++) await send(name, [i], queue);
}

export function poolBehaviours(kind: 'threads' | 'prefork', pools: PoolHarness): void {
  describe(`${kind} pool`, () => {
    it('ends a task that spins past its hard time limit, replaces its child and runs the 1,000 behind it', async () => {
      const { worker, queue, lines, record } = await pools.start();
      const spinning = await send('tasks.spin', [], queue, { timeLimit: 1 });
      await sendMany('tasks.record', 0, 1000, queue);
      await expect(spinning.get({ timeout: 30 })).rejects.toMatchObject({
        excType: 'TimeLimitExceeded',
        excModule: 'billiard.exceptions',
      });
      await expect.poll(() => worker.processed, { timeout: 60_000, interval: 100 }).toBe(1001);
      expect(counts(pools.recorded(record), 1000).every((c) => c === 1)).toBe(true);
      const stats = worker.stats();
      expect(stats.pool['children-started']).toBeGreaterThanOrEqual(3);
      expect(stats.pool['max-concurrency']).toBe(2);
      expect(lines.join('')).toContain('Hard time limit (1s) exceeded for tasks.spin');
    }, 180_000);

    it('requeues the task of a child that died (acksLate + rejectOnWorkerLost) among 2,000 others: none lost', async () => {
      const { worker, queue, record } = await pools.start();
      const marker = join(pools.dir, `${queue}.marker`);
      await sendMany('tasks.record_late', 0, 1000, queue);
      const victim = await send(kind === 'prefork' ? 'tasks.block_late' : 'tasks.exit_once', [marker], queue);
      await sendMany('tasks.record_late', 1000, 2000, queue);
      if (kind === 'prefork') {
        // SIGKILL the process running the blocking task, in the middle of the stream.
        await expect
          .poll(() => pools.recorded(record).find((l) => l.startsWith('block:')), { timeout: 30_000 })
          .toBeDefined();
        const pid = Number(
          pools
            .recorded(record)
            .find((l) => l.startsWith('block:'))!
            .slice('block:'.length),
        );
        expect(worker.stats().pool.processes).toContain(pid);
        process.kill(pid, 'SIGKILL');
      }
      expect(await victim.get({ timeout: 60 })).toBe('second run');
      await expect
        .poll(() => worker.processed, { timeout: 60_000, interval: 100 })
        .toBeGreaterThanOrEqual(2001);
      expect(counts(pools.recorded(record), 2000).every((c) => c === 1)).toBe(true);
      expect(worker.stats().pool['children-lost']).toBe(1);
    }, 180_000);

    it('fails the task of a child that died with WorkerLostError when it is not to be requeued', async () => {
      const { worker, queue, record } = await pools.start();
      const marker = join(pools.dir, `${queue}.marker`);
      await sendMany('tasks.record_late', 0, 1000, queue);
      const victim = await send(
        kind === 'prefork' ? 'tasks.block_no_requeue' : 'tasks.exit_no_requeue',
        [marker],
        queue,
      );
      await sendMany('tasks.record_late', 1000, 2000, queue);
      if (kind === 'prefork') {
        await expect
          .poll(() => pools.recorded(record).find((l) => l.startsWith('block:')), { timeout: 30_000 })
          .toBeDefined();
        process.kill(
          Number(
            pools
              .recorded(record)
              .find((l) => l.startsWith('block:'))!
              .slice(6),
          ),
          'SIGKILL',
        );
      }
      await expect(victim.get({ timeout: 60 })).rejects.toMatchObject({
        excType: 'WorkerLostError',
        remoteMessage: expect.stringMatching(
          kind === 'prefork'
            ? /^Worker exited prematurely: signal 9 \(SIGKILL\) Job: \d+\.$/
            : /^Worker exited prematurely: exitcode 1/,
        ),
      });
      await expect.poll(() => worker.processed, { timeout: 60_000, interval: 100 }).toBe(2001);
      expect(counts(pools.recorded(record), 2000).every((c) => c === 1)).toBe(true);
    }, 180_000);

    it('dead-letters a task that keeps killing its child, after the requeue limit', async () => {
      const { queue } = await pools.start({ maxWorkerLostRequeues: 2 });
      const poison = await send('tasks.exit_always', [], queue);
      await expect(poison.get({ timeout: 60 })).rejects.toMatchObject({ excType: 'WorkerLostError' });
      const broker = (await app.getBroker()) as SqliteBroker;
      expect(broker.deadLetters(queue).map((d) => d.reason)).toEqual(['worker-lost-requeue-limit']);
    });

    it('recycles children after maxTasksPerChild and when they pass maxMemoryPerChild', async () => {
      const { worker, queue } = await pools.start({ maxTasksPerChild: 10, maxMemoryPerChild: 300 * 1024 });
      const ids = new Set<string>();
      const results = [];
      for (let i = 0; i < 100; i++) results.push(await send('tasks.whoami', [], queue));
      for (const result of results) {
        const who = (await result.get({ timeout: 60 })) as { pid: number; threadId: number };
        ids.add(`${who.pid}/${who.threadId}`);
      }
      expect(ids.size).toBeGreaterThanOrEqual(10);
      expect(worker.stats().pool['children-started']).toBeGreaterThanOrEqual(11);
      const before = worker.stats().pool['children-recycled'] as number;
      const hog = (await (await send('tasks.hog', [400], queue)).get({ timeout: 30 })) as {
        pid: number;
        threadId: number;
      };
      await expect.poll(() => worker.stats().pool['children-recycled']).toBe(before + 1);
      const live = worker.stats().pool[kind === 'prefork' ? 'processes' : 'thread-ids'] as number[];
      expect(live).not.toContain(kind === 'prefork' ? hog.pid : hog.threadId);
    }, 180_000);

    it('keeps Reject, Ignore, Retry, soft limits, updateState, logs, publishing and result reads working across the boundary', async () => {
      const { queue, lines } = await pools.start();
      const broker = (await app.getBroker()) as SqliteBroker;
      await send('tasks.reject', [], queue);
      await expect.poll(() => broker.deadLetters(queue).map((d) => d.reason)).toEqual(['not for us']);
      const ignored = await send('tasks.ignore', [], queue);
      const soft = await send('tasks.soft', [], queue, { softTimeLimit: 0.2 });
      await expect(soft.get({ timeout: 20 })).rejects.toMatchObject({ excType: 'SoftTimeLimitExceeded' });
      const typeError = await send('tasks.type_error', [], queue);
      await expect(typeError.get({ timeout: 20 })).rejects.toMatchObject({
        excType: 'TypeError',
        excModule: 'builtins',
        remoteMessage: 'bad input',
      });
      // Ignore stores nothing after STARTED (trackStarted is on in the fixture).
      expect(await ignored.state()).toBe('STARTED');
      const progress = await send('tasks.progress', [], queue);
      expect(await progress.get({ timeout: 20 })).toBe('finished');
      const childName = kind === 'prefork' ? 'ForkPoolWorker' : 'ThreadPoolWorker';
      expect(lines.join('')).toMatch(new RegExp(`INFO/${childName}-\\d+\\] progress reported`));
      expect(lines.join('')).toMatch(new RegExp(`WARNING/${childName}-\\d+\\] printed by the task`));
      const connections = await send('tasks.connections', [], queue);
      expect(await connections.get({ timeout: 20 })).toEqual(['ParentBroker', 'ParentBackend']);
      const retried = await send('tasks.retry_once', [], queue);
      expect(await retried.get({ timeout: 20 })).toBe('retried 1');
      expect(await (await send('tasks.wait_for_child', [4], queue)).get({ timeout: 20 })).toBe(8);
      const fanout = await send('tasks.fanout', [21], queue);
      const childId = (await fanout.get({ timeout: 20 })) as string;
      // Published by the worker on the child's behalf, to the default queue: run it here.
      expect(await (await app.getBackend()).get(childId)).toBeNull();
      expect(await broker.size('celery')).toBeGreaterThanOrEqual(1);
    });

    it('grows and shrinks, and scales up under load with --autoscale', async () => {
      const { worker } = await pools.start();
      worker.poolGrow(2);
      expect(worker.stats().pool['max-concurrency']).toBe(4);
      await expect
        .poll(() => (worker.stats().pool[kind === 'prefork' ? 'processes' : 'thread-ids'] as number[]).length)
        .toBe(4);
      if (kind === 'threads') expect(worker.stats().pool.threads).toBe(4); // a count, as Celery's
      worker.poolShrink(5);
      expect(worker.stats().pool['max-concurrency']).toBe(1);
      await expect
        .poll(() => (worker.stats().pool[kind === 'prefork' ? 'processes' : 'thread-ids'] as number[]).length)
        .toBe(1);
      const scaled = await pools.start({ autoscale: [3, 1] });
      expect(scaled.worker.stats().autoscaler).toMatchObject({ max: 3, min: 1, current: 1 });
      // Enough work for long enough that a 1 s autoscaler tick sees at least 3 reserved, however the ticks fall.
      for (let i = 0; i < 12; i++) await send('tasks.sleep', [2_000], scaled.queue);
      await expect.poll(() => scaled.worker.stats().autoscaler?.current, { timeout: 20_000 }).toBe(3);
      expect(scaled.lines.join('')).toContain('Scaling up');
    });
  });
}
