/**
 * Shared bits of the focused profiling scripts (bench/profile/*.ts): not the side-by-side benchmark (bench/run.ts),
 * but small loops to run under `node --import tsx --cpu-prof` and to compare one scenario quickly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/12';
export const PYTHON_DIR = fileURLToPath(new URL('../../test/interop/python/', import.meta.url));
export const QUEUE = 'bench';
/** The broker of the Celeriac app (the Redis URL unless BENCH_BROKER_URL says otherwise, e.g. amqp://...). */
export const BROKER_URL = process.env.BENCH_BROKER_URL ?? REDIS_URL;

export function newPrefix(): string {
  return `bench:${uuid().slice(0, 8)}:`;
}

export function celeriacApp(prefix: string, options: { ignoreResult?: boolean } = {}): Celery {
  const app = new Celery('bench', {
    broker: BROKER_URL,
    backend: REDIS_URL,
    brokerTransportOptions: BROKER_URL.startsWith('amqp') ? {} : { global_keyprefix: prefix },
    taskDefaultQueue: QUEUE,
    taskIgnoreResult: options.ignoreResult ?? false,
    resultExpires: 300,
    // As the Python AMQP interop app declares its queues (x-max-priority 10).
    ...(BROKER_URL.startsWith('amqp') ? { taskQueueMaxPriority: 10 } : {}),
  });
  app.logger = silentLogger();
  app.task('interop.add', (x: number, y: number) => x + y);
  return app;
}

export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Runs a Python snippet with /usr/bin/python3 in test/interop/python; resolves with its stdout. */
export function python(code: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', code], {
      cwd: PYTHON_DIR,
      env: { ...process.env, INTEROP_BROKER: REDIS_URL, INTEROP_QUEUE: QUEUE, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`python exited ${code}`))));
  });
}

/** Starts a Python Celery worker on QUEUE; resolves once it is up (its first fetch shows in `unacked`). */
export function pythonWorker(prefix: string, pool: string, concurrency: number): ChildProcess {
  return spawn(
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
      QUEUE,
      '-l',
      'warning',
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
    ],
    {
      cwd: PYTHON_DIR,
      env: {
        ...process.env,
        INTEROP_BROKER: REDIS_URL,
        INTEROP_PREFIX: prefix,
        INTEROP_QUEUE: QUEUE,
        INTEROP_PREFETCH: '4',
      },
      stdio: 'ignore',
    },
  );
}

export function print(name: string, values: Record<string, number>): void {
  const parts = Object.entries(values).map(([k, v]) => `${k}=${v >= 100 ? v.toFixed(0) : v.toFixed(3)}`);
  console.log(`${name.padEnd(28)} ${parts.join('  ')}`);
}
