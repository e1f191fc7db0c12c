/**
 * Scenarios 3 and 4 (and 7.3 on RabbitMQ): a warm worker processes N pre-filled no-op tasks; results ignored (3)
 * or stored in Redis (4). Scenario 3 also records what scenario 8 reports: the worker's resident memory when idle
 * and after the run, and the Redis server's CPU time per task.
 *
 * Redis, kombu layout (Celeriac, Celery): the worker starts on an empty queue and prints BENCH-READY; the N
 * messages are written to a staging key, and the clock starts when RENAME makes them the queue (one atomic step,
 * which wakes the blocked fetch). Done: queue and `unacked` empty (3), or every result stored (4).
 * Redis, BullMQ: the queue is paused, the worker started, N jobs added, and the clock starts at resume().
 * Done: nothing waiting or active (3, jobs removed on completion), or N completed jobs (4).
 * RabbitMQ: the queue is filled, then held by the harness (consumed, not acknowledged); the worker starts and
 * gets nothing; the clock starts when the harness closes its channel, which requeues all N at once. Done: no
 * message left ready (up to one prefetch window of no-op tasks may still be finishing: about 1% of 20,000).
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QueueProbe, deleteAmqpQueue, holdQueue } from '../lib/amqp.js';
import { until, type WorkerProcess } from '../lib/processes.js';
import {
  allStored,
  missingResults,
  bullConnection,
  client,
  deletePrefix,
  deleteResults,
  redisCpuSeconds,
  stageKombuMessages,
} from '../lib/redis.js';
import {
  celeriacApp,
  prefixFor,
  startBullWorker,
  startCeleriacWorker,
  startCeleryWorker,
  type CeleryPool,
  type Target,
} from '../lib/systems.js';
import type { Contender, Metric, Sample, Scenario, Settings } from '../lib/types.js';
import { pythonUnavailable } from './common.js';

const TIMEOUT_MS = 600_000;
const SETTLE_MS = 500;

export const PROCESS_METRICS: Metric[] = [
  { key: 'rate', label: 'tasks/s', unit: 'tasks/s', better: 'higher' },
];
/** Scenario 8's figures, measured during scenario 3 runs. */
export const RESOURCE_METRICS: Metric[] = [
  { key: 'rssIdle', label: 'RSS idle MiB', unit: 'MiB', better: 'lower' },
  { key: 'rssAfter', label: 'RSS after MiB', unit: 'MiB', better: 'lower' },
  { key: 'redisCpu', label: 'Redis CPU µs/task', unit: 'µs/task', better: 'lower' },
];

type StartKombuWorker = (settings: Settings, target: Target) => Promise<WorkerProcess>;

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
const mib = (kib: number): number => kib / 1024;

async function kombuRedisRun(
  settings: Settings,
  target: Target,
  start: StartKombuWorker,
  withResults: boolean,
): Promise<Sample> {
  const redis = client(settings.redisUrl);
  let worker: WorkerProcess | undefined;
  let ids: string[] = [];
  try {
    worker = await start(settings, target);
    await settle();
    const rssIdle = mib(worker.rssKiB());
    const staging = `${target.prefix}staging`;
    const queueKey = `${target.prefix}${target.queue}`;
    ids = await stageKombuMessages(redis, staging, target.queue, settings.n, !withResults);
    const cpu0 = await redisCpuSeconds(redis);
    const t0 = performance.now();
    await redis.rename(staging, queueKey);
    const left = async (): Promise<number> =>
      (await redis.llen(queueKey)) + (await redis.hlen(`${target.prefix}unacked`));
    await until(withResults ? () => allStored(redis, ids) : async () => (await left()) === 0, {
      timeoutMs: TIMEOUT_MS,
      what: `${settings.n} tasks to be processed`,
      progress: withResults ? async () => (await left()) + (await missingResults(redis, ids)) : left,
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (await redisCpuSeconds(redis)) - cpu0;
    const rssAfter = mib(worker.rssKiB());
    return { rate: settings.n / seconds, rssIdle, rssAfter, redisCpu: (cpu / settings.n) * 1e6 };
  } finally {
    await worker?.stop();
    await deletePrefix(redis, target.prefix);
    await deleteResults(redis, ids);
    redis.disconnect();
  }
}

async function amqpRun(settings: Settings, target: Target, start: StartKombuWorker): Promise<Sample> {
  const app = celeriacApp(target);
  const noop = app.task('bench.noop', (i: number) => i);
  let worker: WorkerProcess | undefined;
  const probe = await QueueProbe.open(settings.amqpUrl);
  try {
    for (let from = 0; from < settings.n; from += 1000) {
      const size = Math.min(1000, settings.n - from);
      await Promise.all(
        Array.from({ length: size }, (_, i) => noop.applyAsync([from + i], { ignoreResult: true })),
      );
    }
    await app.close();
    const held = await holdQueue(settings.amqpUrl, target.queue, settings.n);
    worker = await start(settings, target);
    await settle();
    const t0 = performance.now();
    await held.release();
    const left = (): Promise<number> => probe.ready(target.queue);
    await until(async () => (await left()) === 0, {
      timeoutMs: TIMEOUT_MS,
      what: 'the queue to drain',
      progress: left,
    });
    const seconds = (performance.now() - t0) / 1000;
    return { rate: settings.n / seconds };
  } finally {
    await worker?.stop();
    await probe.close();
    await deleteAmqpQueue(settings.amqpUrl, target.queue);
  }
}

function kombuContender(
  system: 'celeriac' | 'celery',
  label: string,
  scenario: string,
  broker: 'redis' | 'amqp',
  start: StartKombuWorker,
): Contender {
  const withResults = scenario === '4';
  return {
    system,
    label,
    ...(system === 'celery' ? { unavailable: pythonUnavailable } : {}),
    run(settings, rep) {
      const tag = label.replace(/\W+/g, '-').toLowerCase();
      const target: Target = {
        broker: broker === 'redis' ? settings.redisUrl : settings.amqpUrl,
        backend: withResults ? settings.redisUrl : null,
        prefix: broker === 'redis' ? prefixFor(settings, scenario, tag, rep) : '',
        queue: `bench-${settings.runId}-${scenario}-${tag}-${rep}`,
        ignoreResult: !withResults,
      };
      return broker === 'redis'
        ? kombuRedisRun(settings, target, start, withResults)
        : amqpRun(settings, target, start);
    },
  };
}

const celeriacWorker: StartKombuWorker = (_settings, target) => startCeleriacWorker(target, 50);
const celeryWorker =
  (pool: CeleryPool, concurrency: number): StartKombuWorker =>
  (settings, target) =>
    startCeleryWorker(settings, target, pool, concurrency);

async function waitBull(queue: Queue, n: number, withResults: boolean): Promise<boolean> {
  if (withResults) return (await queue.getCompletedCount()) >= n;
  return (await queue.getJobCountByTypes('waiting', 'paused', 'active', 'prioritized', 'delayed')) === 0;
}

function bullContender(scenario: string): Contender {
  const withResults = scenario === '4';
  return {
    system: 'bullmq',
    label: 'BullMQ concurrency 50',
    async run(settings, rep) {
      const prefix = prefixFor(settings, scenario, 'bull', rep).slice(0, -1);
      const connection: Redis = bullConnection(settings.redisUrl);
      const queue = new Queue('bench', { connection, prefix });
      let worker: WorkerProcess | undefined;
      try {
        await queue.pause();
        worker = await startBullWorker(settings, prefix, 'bench', 50);
        await settle();
        const rssIdle = mib(worker.rssKiB());
        for (let from = 0; from < settings.n; from += 1000) {
          const size = Math.min(1000, settings.n - from);
          await queue.addBulk(
            Array.from({ length: size }, (_, i) => ({
              name: 'noop',
              data: { i: from + i },
              opts: withResults ? {} : { removeOnComplete: true },
            })),
          );
        }
        const cpu0 = await redisCpuSeconds(connection);
        const t0 = performance.now();
        await queue.resume();
        await until(() => waitBull(queue, settings.n, withResults), {
          timeoutMs: TIMEOUT_MS,
          what: `${settings.n} jobs to complete`,
          progress: () => queue.getJobCountByTypes('waiting', 'paused', 'active', 'prioritized', 'completed'),
        });
        const seconds = (performance.now() - t0) / 1000;
        const cpu = (await redisCpuSeconds(connection)) - cpu0;
        const rssAfter = mib(worker.rssKiB());
        return { rate: settings.n / seconds, rssIdle, rssAfter, redisCpu: (cpu / settings.n) * 1e6 };
      } finally {
        await worker?.stop();
        await queue.close();
        await deletePrefix(connection, prefix);
        connection.disconnect();
      }
    },
  };
}

export function processScenario(settings: Settings, withResults: boolean): Scenario {
  const id = withResults ? '4' : '3';
  return {
    id,
    title: `Process ${settings.n} pre-filled tasks, results ${withResults ? 'stored in Redis' : 'ignored'} (Redis)`,
    metrics: [...PROCESS_METRICS, ...RESOURCE_METRICS],
    contenders: [
      kombuContender('celeriac', 'Celeriac async -c 50', id, 'redis', celeriacWorker),
      kombuContender('celery', 'Celery prefork -c 2', id, 'redis', celeryWorker('prefork', 2)),
      kombuContender('celery', 'Celery threads -c 8', id, 'redis', celeryWorker('threads', 8)),
      bullContender(id),
    ],
  };
}

export function amqpProcessScenario(settings: Settings): Scenario {
  const id = '7.3';
  return {
    id,
    title: `RabbitMQ: process ${settings.n} pre-filled tasks, results ignored`,
    metrics: PROCESS_METRICS,
    contenders: [
      kombuContender('celeriac', 'Celeriac async -c 50', id, 'amqp', celeriacWorker),
      kombuContender('celery', 'Celery prefork -c 2', id, 'amqp', celeryWorker('prefork', 2)),
    ],
  };
}
