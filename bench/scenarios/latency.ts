/**
 * Scenario 5 (and 7.5 on RabbitMQ): round-trip latency of `delay` -> `get` against a warm worker, sequential
 * calls, results through Redis. Warm-up calls run first and are not counted. p50, p95 and p99 per repetition.
 */
import { Queue, QueueEvents } from 'bullmq';
import { percentile } from '../lib/stats.js';
import { deleteAmqpQueue } from '../lib/amqp.js';
import type { WorkerProcess } from '../lib/processes.js';
import { bullConnection, client, deletePrefix, deleteResults } from '../lib/redis.js';
import {
  celeriacApp,
  prefixFor,
  runCeleryProducer,
  startBullWorker,
  startCeleriacWorker,
  startCeleryWorker,
  type Target,
} from '../lib/systems.js';
import type { Contender, Metric, Sample, Scenario, Settings } from '../lib/types.js';
import { pythonUnavailable } from './common.js';

const WARMUP = 50;
const METRICS: Metric[] = [
  { key: 'p50', label: 'p50 ms', unit: 'ms', better: 'lower' },
  { key: 'p95', label: 'p95 ms', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'p99 ms', unit: 'ms', better: 'lower' },
];

function summary(ms: readonly number[]): Sample {
  return { p50: percentile(ms, 50), p95: percentile(ms, 95), p99: percentile(ms, 99) };
}

function targetFor(settings: Settings, scenario: string, system: string, rep: number): Target {
  const amqp = scenario !== '5';
  return {
    broker: amqp ? settings.amqpUrl : settings.redisUrl,
    backend: settings.redisUrl,
    prefix: amqp ? '' : prefixFor(settings, scenario, system, rep),
    queue: `bench-${settings.runId}-${scenario}-${system}-${rep}`,
  };
}

async function cleanup(settings: Settings, target: Target, ids: readonly string[]): Promise<void> {
  const redis = client(settings.redisUrl);
  await deleteResults(redis, ids);
  if (target.prefix) await deletePrefix(redis, target.prefix);
  redis.disconnect();
  if (target.broker === settings.amqpUrl) await deleteAmqpQueue(settings.amqpUrl, target.queue);
}

function celeriac(scenario: string): Contender {
  return {
    system: 'celeriac',
    label: 'Celeriac async -c 50',
    async run(settings, rep) {
      const target = targetFor(settings, scenario, 'celeriac', rep);
      const app = celeriacApp(target);
      const noop = app.task('bench.noop', (i: number) => i);
      let worker: WorkerProcess | undefined;
      const ids: string[] = [];
      try {
        worker = await startCeleriacWorker(target, 50);
        const ms: number[] = [];
        for (let i = 0; i < WARMUP + settings.latencyCalls; i++) {
          const t0 = performance.now();
          const result = await noop.delay(i);
          await result.get({ timeout: 30 });
          if (i >= WARMUP) ms.push(performance.now() - t0);
          ids.push(result.id);
        }
        return summary(ms);
      } finally {
        await app.close();
        await worker?.stop();
        await cleanup(settings, target, ids);
      }
    },
  };
}

function celery(scenario: string): Contender {
  return {
    system: 'celery',
    label: 'Celery prefork -c 2',
    unavailable: pythonUnavailable,
    async run(settings, rep) {
      const target = targetFor(settings, scenario, 'celery', rep);
      let worker: WorkerProcess | undefined;
      let ids: string[] = [];
      try {
        worker = await startCeleryWorker(settings, target, 'prefork', 2);
        const out = await runCeleryProducer<{ ms: number[]; ids: string[] }>(
          settings,
          target,
          'latency',
          settings.latencyCalls,
        );
        ids = out.ids;
        return summary(out.ms);
      } finally {
        await worker?.stop();
        await cleanup(settings, target, ids);
      }
    },
  };
}

function bullmq(): Contender {
  return {
    system: 'bullmq',
    label: 'BullMQ add + waitUntilFinished',
    async run(settings, rep) {
      const prefix = prefixFor(settings, '5', 'bull', rep).slice(0, -1);
      const connection = bullConnection(settings.redisUrl);
      const queue = new Queue('bench', { connection, prefix });
      const events = new QueueEvents('bench', { connection: bullConnection(settings.redisUrl), prefix });
      let worker: WorkerProcess | undefined;
      try {
        await events.waitUntilReady();
        worker = await startBullWorker(settings, prefix, 'bench', 50);
        const ms: number[] = [];
        for (let i = 0; i < WARMUP + settings.latencyCalls; i++) {
          const t0 = performance.now();
          const job = await queue.add('noop', { i });
          await job.waitUntilFinished(events, 30_000);
          if (i >= WARMUP) ms.push(performance.now() - t0);
        }
        return summary(ms);
      } finally {
        await worker?.stop();
        await events.close();
        await queue.close();
        await deletePrefix(connection, prefix);
        connection.disconnect();
      }
    },
  };
}

export function latencyScenario(settings: Settings): Scenario {
  return {
    id: '5',
    title: `Round trip delay -> get, ${settings.latencyCalls} sequential calls, warm worker (Redis)`,
    metrics: METRICS,
    contenders: [celeriac('5'), celery('5'), bullmq()],
  };
}

export function amqpLatencyScenario(settings: Settings): Scenario {
  return {
    id: '7.5',
    title: `RabbitMQ: round trip delay -> get, ${settings.latencyCalls} sequential calls (results in Redis)`,
    metrics: METRICS,
    contenders: [celeriac('7.5'), celery('7.5')],
  };
}
