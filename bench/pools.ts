/**
 * Pool throughput: the same tasks through the async, threads and prefork pools, on the memory and SQLite
 * brokers. Prints a table of tasks per second; not a test (run with `npx tsx bench/pools.ts`).
 *
 * - `noop` shows the cost of running a task elsewhere (structured-clone IPC per task, batched per turn).
 * - `cpu` shows what threads and prefork are for: a task that never yields uses one core in `async`.
 */
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../src/lifecycle/logger.js';
import { Worker } from '../src/worker/worker.js';
import type { PoolName } from '../src/app/config.js';
import { app } from './pools-app.js';

const APP = fileURLToPath(new URL('./pools-app.ts', import.meta.url));
const cores = availableParallelism();

async function run(pool: PoolName, task: string, arg: number, n: number, queue: string): Promise<number> {
  const worker = new Worker(app, {
    pool,
    concurrency: pool === 'async' ? 50 : cores,
    appModule: APP,
    queues: [queue],
    logger: silentLogger(),
  });
  await worker.start();
  const start = performance.now();
  for (let i = 0; i < n; i++) await app.sendTask(task, [arg], {}, { queue, ignoreResult: true });
  while (worker.processed < n) await new Promise((resolve) => setTimeout(resolve, 5));
  const seconds = (performance.now() - start) / 1000;
  await worker.stop();
  return n / seconds;
}

const dir = mkdtempSync(join(tmpdir(), 'celeriac-bench-'));
const brokers = { memory: 'memory://bench', sqlite: `sqlite://${join(dir, 'bench.db')}` };
const rows: string[] = [];
for (const [name, url] of Object.entries(brokers)) {
  process.env.CELERIAC_BROKER_URL = url;
  for (const [task, arg, n] of [
    ['bench.noop', 0, 5000],
    ['bench.cpu', 30, 100],
  ] as const) {
    const rates: string[] = [];
    for (const pool of ['async', 'threads', 'prefork'] as const) {
      const queue = `${pool}-${task}`;
      rates.push((await run(pool, task, arg, n, queue)).toFixed(0).padStart(8));
    }
    rows.push(`${name.padEnd(7)} ${task.padEnd(11)} ${rates.join(' ')}`);
  }
  await app.close();
}
rmSync(dir, { recursive: true, force: true });
console.log(`tasks/s, ${cores} cores; threads and prefork with -c ${cores}, async with -c 50`);
console.log(`broker  task           async  threads  prefork`);
for (const row of rows) console.log(row);
