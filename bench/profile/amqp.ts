/**
 * RabbitMQ, Celeriac next to Python Celery (results in Redis for both): enqueue awaited loop, worker drain and
 * delay->get latency. `npx tsx bench/profile/amqp.ts [N]`; runs in a vhost of its own, removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createVhost } from '../../test/support/rabbitmq.js';

const N = Number(process.argv[2] ?? 5000);
const here = fileURLToPath(new URL('.', import.meta.url));
const PY_AMQP = fileURLToPath(new URL('../../test/interop/python-amqp/', import.meta.url));
const vhost = await createVhost('bench');
// Set before common.ts is loaded (it reads the broker URL once): the app and the worker child both use RabbitMQ.
process.env.BENCH_BROKER_URL = vhost.url;
const { celeriacApp, newPrefix, percentile, print, QUEUE, REDIS_URL } = await import('./common.js');
const redis = new Redis(REDIS_URL);
const pyEnv = { ...process.env, INTEROP_BROKER: vhost.url, INTEROP_BACKEND: REDIS_URL, INTEROP_QUEUE: QUEUE };

function pythonRun(code: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', code], {
      cwd: PY_AMQP,
      env: pyEnv,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (c) => (c === 0 ? resolve(out) : reject(new Error(`python exited ${c}`))));
  });
}

function pythonWorker(): ChildProcess {
  return spawn(
    '/usr/bin/python3',
    [
      '-m',
      'celery',
      '-A',
      'interop_app',
      'worker',
      '-P',
      'prefork',
      '-c',
      '2',
      '-Q',
      QUEUE,
      '-l',
      'warning',
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
    ],
    { cwd: PY_AMQP, env: pyEnv, stdio: 'ignore' },
  );
}

function celeriacWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', here + 'worker.ts'], {
    env: { ...process.env, BENCH_PREFIX: newPrefix(), BENCH_CONCURRENCY: '50' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve) =>
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve(child)),
  );
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function allStored(ids: string[]): Promise<void> {
  for (;;) {
    const keys = ids.slice(-500).map((id) => `celery-task-meta-${id}`);
    if ((await redis.exists(...keys)) === keys.length) {
      let missing = 0;
      for (let i = 0; i < ids.length; i += 5000)
        missing +=
          Math.min(5000, ids.length - i) -
          (await redis.exists(...ids.slice(i, i + 5000).map((id) => `celery-task-meta-${id}`)));
      if (missing === 0) return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

const app = celeriacApp('');
const add = app.tasks.get('interop.add')!;
await add.applyAsync([0, 1], {}, { ignoreResult: true });

// 1. enqueue, each awaited
let t0 = performance.now();
for (let i = 0; i < N; i++) await add.applyAsync([i, 1]);
let s = (performance.now() - t0) / 1000;
print('amqp celeriac applyAsync', { perSecond: N / s });
const pyEnqueue = Number(
  (
    await pythonRun(`
import time
from interop_app import add
add.apply_async((0, 1))
t0 = time.perf_counter()
for i in range(${N}):
    add.apply_async((i, 1))
print(time.perf_counter() - t0)
`)
  ).trim(),
);
print('amqp python apply_async', { perSecond: N / pyEnqueue });
await app.purge([QUEUE]);

// 2. drain a pre-filled queue (results stored)
for (const who of ['celeriac', 'python'] as const) {
  const results = await add.applyAsyncMany(Array.from({ length: N }, (_, i) => [i, 1] as [number, number]));
  const ids = results.map((r) => r.id);
  const worker = who === 'celeriac' ? await celeriacWorker() : pythonWorker();
  t0 = performance.now();
  await allStored(ids);
  s = (performance.now() - t0) / 1000;
  print(`amqp ${who} drain`, { perSecond: N / s });
  await stop(worker);
}

// 3. latency, Celeriac client and worker, then Python client and worker
const M = Math.min(N, 500);
{
  const worker = await celeriacWorker();
  const samples: number[] = [];
  for (let i = 0; i < M + 50; i++) {
    const t = performance.now();
    await (await add.delay(i, 1)).get();
    if (i >= 50) samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  print('amqp celeriac delay->get ms', { p50: percentile(samples, 50), p95: percentile(samples, 95) });
  await stop(worker);
}
{
  const worker = pythonWorker();
  const out = await pythonRun(`
import time, json
from interop_app import add
for i in range(50):
    add.delay(i, 1).get()
samples = []
for i in range(${M}):
    t0 = time.perf_counter()
    add.delay(i, 1).get()
    samples.append((time.perf_counter() - t0) * 1000)
samples.sort()
print(json.dumps(samples))
`);
  const samples = JSON.parse(out) as number[];
  print('amqp python delay->get ms', { p50: percentile(samples, 50), p95: percentile(samples, 95) });
  await stop(worker);
}
await app.close();
redis.disconnect();
await vhost.remove();
