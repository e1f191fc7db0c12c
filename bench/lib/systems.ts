/**
 * Starting the three systems the same way in every scenario: workers in their own processes (BENCH_* environment,
 * BENCH-READY on stdout), the Python producer as a process that times itself, and Celeriac's producer in-process.
 */
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { BENCH_DIR, PYTHON_DIR, runToEnd, startWorker, type WorkerProcess } from './processes.js';
import type { Settings } from './types.js';

export interface Target {
  /** Broker URL: the Redis or AMQP one of the settings. */
  broker: string;
  /** Result backend URL, or null for none. */
  backend: string | null;
  /** Redis key prefix of the broker keys ('' on AMQP). */
  prefix: string;
  queue: string;
  ignoreResult?: boolean;
}

function benchEnv(target: Target): NodeJS.ProcessEnv {
  return {
    BENCH_BROKER: target.broker,
    BENCH_BACKEND: target.backend ?? '',
    BENCH_PREFIX: target.prefix,
    BENCH_QUEUE: target.queue,
    BENCH_IGNORE_RESULT: target.ignoreResult ? '1' : '0',
  };
}

export async function startCeleriacWorker(target: Target, concurrency = 50): Promise<WorkerProcess> {
  const worker = startWorker(
    process.execPath,
    ['--import', 'tsx', 'workers/celeriac-worker.ts'],
    { ...benchEnv(target), BENCH_CONCURRENCY: String(concurrency) },
    BENCH_DIR,
  );
  await worker.ready();
  return worker;
}

export type CeleryPool = 'prefork' | 'threads' | 'solo';

export async function startCeleryWorker(
  settings: Settings,
  target: Target,
  pool: CeleryPool,
  concurrency: number,
): Promise<WorkerProcess> {
  const worker = startWorker(
    settings.python,
    [
      '-m',
      'celery',
      '-A',
      'bench_app',
      'worker',
      '-P',
      pool,
      '-c',
      String(concurrency),
      '-Q',
      target.queue,
      '-l',
      'warning',
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
    ],
    benchEnv(target),
    PYTHON_DIR,
  );
  await worker.ready();
  return worker;
}

export async function startBullWorker(
  settings: Settings,
  prefix: string,
  queue: string,
  concurrency = 50,
): Promise<WorkerProcess> {
  const worker = startWorker(
    process.execPath,
    ['--import', 'tsx', 'workers/bullmq-worker.ts'],
    {
      BENCH_REDIS_URL: settings.redisUrl,
      BENCH_PREFIX: prefix,
      BENCH_QUEUE: queue,
      BENCH_CONCURRENCY: String(concurrency),
    },
    BENCH_DIR,
  );
  await worker.ready();
  return worker;
}

/** Runs bench/python/produce.py: `mode` is enqueue, bulk, latency or chord. */
export async function runCeleryProducer<T>(
  settings: Settings,
  target: Target,
  mode: string,
  n: number,
): Promise<T> {
  const out = await runToEnd(settings.python, ['produce.py', mode, String(n)], benchEnv(target), PYTHON_DIR);
  return JSON.parse(out) as T;
}

/** Celeriac's producer side: an app with the same settings and task names as the workers. */
export function celeriacApp(target: Target): Celery {
  const app = new Celery('bench', {
    broker: target.broker,
    backend: target.backend,
    brokerTransportOptions: target.prefix ? { global_keyprefix: target.prefix } : {},
    taskDefaultQueue: target.queue,
    taskIgnoreResult: target.ignoreResult ?? false,
    resultExpires: 600,
  });
  app.logger = silentLogger();
  return app;
}

/** A key prefix unique to this run, scenario, contender and repetition. */
export function prefixFor(settings: Settings, scenario: string, system: string, rep: number): string {
  return `celeriac-bench:${settings.runId}:${scenario}:${system}:${rep}:`;
}
