/**
 * Worker throughput on Redis (broker and result backend), Celeriac next to Python Celery 5.2.6 on the same Redis.
 * Not a test: prints a table. `npx tsx bench/redis-worker.ts [tasks]`.
 *
 * Each run: push N task envelopes (kombu's layout, pipelined), start the worker, and time from its "ready" to the
 * moment every result is stored. Redis CPU per task is read from INFO CPU around that interval.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Celery, Worker } from '../src/index.js';
import { silentLogger } from '../src/lifecycle/logger.js';
import { encodeEnvelope } from '../src/protocol/envelope.js';
import { uuid } from '../src/protocol/ids.js';
import { encodeTaskMessage } from '../src/protocol/message.js';

const N = Number(process.argv[2] ?? 20_000);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/12';
const PYTHON_DIR = fileURLToPath(new URL('../test/interop/python/', import.meta.url));
const redis = new Redis(REDIS_URL);

async function redisCpu(): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

async function push(prefix: string, queue: string): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < N; start += 1000) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(N, start + 1000); i++) {
      const id = uuid();
      ids.push(id);
      const wire = encodeTaskMessage(
        { id, task: 'interop.add', args: [i, 1], kwargs: {}, origin: 'bench@host', replyTo: 'bench' },
        { serializer: 'json', now: Date.now() },
      );
      pipeline.lpush(
        prefix + queue,
        encodeEnvelope(wire, { exchange: '', routingKey: queue, deliveryTag: uuid() }),
      );
    }
    await pipeline.exec();
  }
  return ids;
}

async function allStored(ids: string[]): Promise<void> {
  for (;;) {
    const last = await redis.exists(...ids.slice(-200).map((id) => `celery-task-meta-${id}`));
    if (last === 200) {
      let missing = 0;
      for (let i = 0; i < ids.length; i += 5000) {
        const keys = ids.slice(i, i + 5000).map((id) => `celery-task-meta-${id}`);
        missing += keys.length - (await redis.exists(...keys));
      }
      if (missing === 0) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Row {
  name: string;
  seconds: number;
  perSecond: number;
  redisCpuUsPerTask: number;
}

async function measure(
  name: string,
  prefix: string,
  queue: string,
  start: () => Promise<void>,
  stop: () => Promise<void>,
): Promise<Row> {
  const ids = await push(prefix, queue);
  await start();
  const cpu0 = await redisCpu();
  const t0 = performance.now();
  await allStored(ids);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (await redisCpu()) - cpu0;
  await stop();
  return { name, seconds, perSecond: N / seconds, redisCpuUsPerTask: (cpu / N) * 1e6 };
}

async function celeriac(concurrency: number): Promise<Row> {
  const prefix = `bench:${uuid().slice(0, 8)}:`;
  const queue = 'bench';
  const app = new Celery('bench', {
    broker: REDIS_URL,
    backend: REDIS_URL,
    brokerTransportOptions: { global_keyprefix: prefix },
    resultExpires: 300,
  });
  app.logger = silentLogger();
  app.task('interop.add', (x: number, y: number) => x + y);
  const worker = new Worker(app, { queues: [queue], concurrency, logger: silentLogger() });
  return measure(
    `celeriac async -c ${concurrency}`,
    prefix,
    queue,
    () => worker.start(),
    () => worker.stop(),
  );
}

async function python(pool: string, concurrency: number): Promise<Row> {
  const prefix = `bench:${uuid().slice(0, 8)}:`;
  const queue = 'bench';
  let child: ReturnType<typeof spawn> | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const start = async (): Promise<void> => {
    const proc = spawn(
      '/usr/bin/python3',
      [
        '-m',
        'celery',
        '-A',
        'interop_app',
        'worker',
        '-P',
        pool,
        '-c',
        String(concurrency),
        '-Q',
        queue,
        '-l',
        'warning',
        '--without-gossip',
        '--without-mingle',
        '--without-heartbeat',
      ],
      {
        cwd: PYTHON_DIR,
        env: { ...process.env, INTEROP_BROKER: REDIS_URL, INTEROP_PREFIX: prefix, INTEROP_PREFETCH: '4' },
        stdio: 'ignore',
      },
    );
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', resolve));
    // Logging at INFO would slow Celery down (two lines per task): wait for its first fetch instead, which shows
    // as queue entries moving into `unacked`.
    while ((await redis.hlen(`${prefix}unacked`)) === 0)
      await new Promise((resolve) => setTimeout(resolve, 20));
  };
  return measure(`python celery ${pool} -c ${concurrency}`, prefix, queue, start, async () => {
    child?.kill('SIGTERM');
    await exited;
  });
}

const only = process.env.BENCH_ONLY;
const rows: Row[] = [];
if (only !== 'python') {
  rows.push(await celeriac(50));
  rows.push(await celeriac(200));
}
if (only !== 'celeriac') {
  rows.push(await python('prefork', 2));
  rows.push(await python('solo', 1));
}
console.log(`\n${N} tasks, add(i, 1) with results, Redis ${REDIS_URL}\n`);
console.log('worker                      seconds   tasks/s   redis CPU µs/task');
for (const r of rows) {
  console.log(
    `${r.name.padEnd(26)} ${r.seconds.toFixed(2).padStart(8)} ${r.perSecond.toFixed(0).padStart(9)} ${r.redisCpuUsPerTask.toFixed(1).padStart(12)}`,
  );
}
redis.disconnect();
