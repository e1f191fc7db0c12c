/**
 * Processing a pre-filled queue of N no-op tasks: `npx tsx bench/profile/drain.ts [celeriac|python|bullmq|all] [N]
 * [results|ignore]`. The worker runs in its own process (BENCH_WORKER_PROF=1 profiles Celeriac's); the clock runs
 * from its "ready" until the queue is drained (and every result stored, with results). Redis CPU per task from INFO.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { encodeEnvelope } from '../../src/protocol/envelope.js';
import { uuid } from '../../src/protocol/ids.js';
import { encodeTaskMessage } from '../../src/protocol/message.js';
import { newPrefix, print, pythonWorker, QUEUE, REDIS_URL, redisCpuSeconds } from './common.js';

const which = process.argv[2] ?? 'all';
const N = Number(process.argv[3] ?? 20_000);
const withResults = (process.argv[4] ?? 'results') === 'results';
const redis = new Redis(REDIS_URL);
const here = fileURLToPath(new URL('.', import.meta.url));

async function prefill(prefix: string, ignoreResult: boolean): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < N; start += 2000) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(N, start + 2000); i++) {
      const id = uuid();
      ids.push(id);
      const wire = encodeTaskMessage(
        {
          id,
          task: 'interop.add',
          args: [i, 1],
          kwargs: {},
          origin: 'bench@host',
          replyTo: 'bench',
          ignoreResult,
        },
        { serializer: 'json', now: Date.now() },
      );
      pipeline.lpush(
        prefix + QUEUE,
        encodeEnvelope(wire, { exchange: '', routingKey: QUEUE, deliveryTag: uuid() }),
      );
    }
    await pipeline.exec();
  }
  return ids;
}

async function drained(prefix: string, ids: string[]): Promise<void> {
  for (;;) {
    const [len, unacked] = await Promise.all([redis.llen(prefix + QUEUE), redis.hlen(prefix + 'unacked')]);
    if (len === 0 && unacked === 0) {
      if (!withResults) return;
      let missing = 0;
      for (let i = ids.length - 1; i >= 0 && missing === 0; i -= 5000) {
        const keys = ids.slice(Math.max(0, i - 4999), i + 1).map((id) => `celery-task-meta-${id}`);
        missing += keys.length - (await redis.exists(...keys));
      }
      if (missing === 0) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** User + system CPU seconds of a process (and its reaped children), from /proc. */
function processCpu(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return 0;
  }
}

async function timed(name: string, run: () => Promise<void>, pid?: number): Promise<void> {
  const cpu0 = await redisCpuSeconds(redis);
  const worker0 = processCpu(pid);
  const t0 = performance.now();
  await run();
  const s = (performance.now() - t0) / 1000;
  const worker = processCpu(pid) - worker0;
  const cpu = (await redisCpuSeconds(redis)) - cpu0;
  print(name, {
    perSecond: N / s,
    seconds: s,
    redisUsPerTask: (cpu / N) * 1e6,
    workerUsPerTask: (worker / N) * 1e6,
  });
}

function nodeChild(script: string, env: Record<string, string>): Promise<ChildProcess> {
  const prof = process.env.BENCH_WORKER_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [];
  const child = spawn(process.execPath, ['--import', 'tsx', ...prof, here + script], {
    env: { ...process.env, ...env },
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

async function cleanup(prefix: string, ids: string[]): Promise<void> {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  for (let i = 0; i < ids.length; i += 5000)
    await redis.del(...ids.slice(i, i + 5000).map((id) => `celery-task-meta-${id}`));
}

async function celeriac(concurrency: number): Promise<void> {
  const prefix = newPrefix();
  const ids = await prefill(prefix, !withResults);
  const child = await nodeChild('worker.ts', {
    BENCH_PREFIX: prefix,
    BENCH_CONCURRENCY: String(concurrency),
    BENCH_IGNORE: withResults ? '0' : '1',
  });
  await timed(`celeriac async -c ${concurrency}`, () => drained(prefix, ids), child.pid);
  await stop(child);
  await cleanup(prefix, ids);
}

async function python(): Promise<void> {
  const prefix = newPrefix();
  const ids = await prefill(prefix, !withResults);
  const worker = pythonWorker(prefix, 'prefork', 2);
  while ((await redis.hlen(`${prefix}unacked`)) === 0) await new Promise((r) => setTimeout(r, 5));
  await timed('python prefork -c 2', () => drained(prefix, ids), worker.pid);
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.kill('SIGTERM');
  await exited;
  await cleanup(prefix, ids);
}

async function bullmq(): Promise<void> {
  const { Queue } = await import('bullmq');
  const prefix = newPrefix().slice(0, -1);
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection, prefix });
  for (let start = 0; start < N; start += 2000) {
    const jobs = [];
    for (let i = start; i < Math.min(N, start + 2000); i++)
      jobs.push({ name: 'add', data: { x: i, y: 1 }, opts: withResults ? {} : { removeOnComplete: true } });
    await queue.addBulk(jobs);
  }
  const child = await nodeChild('bullmq-worker.ts', {
    BENCH_PREFIX: prefix,
    BENCH_CONCURRENCY: '50',
    ...(withResults ? { BENCH_KEEP: '1' } : {}),
  });
  await timed(
    'bullmq concurrency 50',
    async () => {
      for (;;) {
        const counts = await queue.getJobCounts('wait', 'active', 'prioritized', 'delayed');
        if (Object.values(counts).every((c) => c === 0)) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    child.pid,
  );
  await stop(child);
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
}

const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 50);
if (which === 'celeriac' || which === 'all') await celeriac(concurrency);
if (which === 'python' || which === 'all') await python();
if (which === 'bullmq' || which === 'all') await bullmq();
redis.disconnect();
