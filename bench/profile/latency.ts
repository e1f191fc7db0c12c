/**
 * Round-trip latency `await (await add.delay(i, 1)).get()` with a warm worker in another process, N sequential calls:
 * `npx tsx bench/profile/latency.ts [celeriac|python|bullmq|all] [N]`. Python: Celery client and a prefork -c 2
 * worker. BullMQ: `queue.add` then `job.waitUntilFinished(queueEvents)`, Worker concurrency 1 in another process.
 * BENCH_CLIENT_PROF=1 runs the Celeriac client side in this process (use node --cpu-prof on this script).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { celeriacApp, newPrefix, percentile, print, python, pythonWorker, REDIS_URL } from './common.js';

const which = process.argv[2] ?? 'all';
const N = Number(process.argv[3] ?? 1000);
const redis = new Redis(REDIS_URL);
const here = fileURLToPath(new URL('.', import.meta.url));

function report(name: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  print(name, { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) });
}

function nodeChild(script: string, env: Record<string, string>): Promise<ChildProcess> {
  const args = [
    '--import',
    'tsx',
    ...(process.env.BENCH_WORKER_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []),
    here + script,
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function celeriac(): Promise<void> {
  const prefix = newPrefix();
  const worker = await nodeChild('worker.ts', { BENCH_PREFIX: prefix, BENCH_CONCURRENCY: '10' });
  const app = celeriacApp(prefix);
  const add = app.tasks.get('interop.add')!;
  for (let i = 0; i < 100; i++) await (await add.delay(i, 1)).get();
  const samples: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await (await add.delay(i, 1)).get();
    samples.push(performance.now() - t0);
  }
  report('celeriac delay->get ms', samples);
  await app.close();
  await stopChild(worker);
}

async function pythonCelery(): Promise<void> {
  const prefix = newPrefix();
  const worker = pythonWorker(prefix, 'prefork', 2);
  const out = await python(
    `
import time, json
from interop_app import add
for i in range(100):
    add.delay(i, 1).get()
samples = []
for i in range(${N}):
    t0 = time.perf_counter()
    add.delay(i, 1).get()
    samples.append((time.perf_counter() - t0) * 1000)
print(json.dumps(samples))
`,
    { INTEROP_PREFIX: prefix },
  );
  report('python delay->get ms', JSON.parse(out) as number[]);
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.kill('SIGTERM');
  await exited;
}

async function bullmq(): Promise<void> {
  const { Queue, QueueEvents } = await import('bullmq');
  const prefix = newPrefix().slice(0, -1);
  // Completed jobs are kept (waitUntilFinished reads them), as with results stored.
  const worker = await nodeChild('bullmq-worker.ts', {
    BENCH_PREFIX: prefix,
    BENCH_CONCURRENCY: '10',
    BENCH_KEEP: '1',
  });
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection, prefix });
  const eventsConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const events = new QueueEvents('bench', { connection: eventsConnection, prefix });
  await events.waitUntilReady();
  const samples: number[] = [];
  for (let i = 0; i < N + 100; i++) {
    const t0 = performance.now();
    const job = await queue.add('add', { x: i, y: 1 });
    await job.waitUntilFinished(events);
    if (i >= 100) samples.push(performance.now() - t0);
  }
  report('bullmq add->finished ms', samples);
  await stopChild(worker);
  await queue.obliterate({ force: true });
  await Promise.all([queue.close(), events.close()]);
  connection.disconnect();
  eventsConnection.disconnect();
}

if (which === 'celeriac' || which === 'all') await celeriac();
if (which === 'python' || which === 'all') await pythonCelery();
if (which === 'bullmq' || which === 'all') await bullmq();
redis.disconnect();
