/**
 * Scenarios 1 and 2 (and 7.1 on RabbitMQ): enqueue N no-op tasks, one awaited call at a time, or in bulk.
 * No worker runs; the messages are deleted afterwards with the run's key prefix (or queue, on AMQP).
 */
import { Queue } from 'bullmq';
import { bullConnection, client, deletePrefix } from '../lib/redis.js';
import { deleteAmqpQueue } from '../lib/amqp.js';
import { celeriacApp, prefixFor, runCeleryProducer, type Target } from '../lib/systems.js';
import type { Contender, Metric, Scenario, Settings } from '../lib/types.js';
import { pythonUnavailable } from './common.js';

const RATE: Metric[] = [{ key: 'rate', label: 'tasks/s', unit: 'tasks/s', better: 'higher' }];
const WARMUP = 50;
/** Messages per bulk call, for every contender (Celeriac `applyAsyncMany`, Celery's group, BullMQ `addBulk`). */
export const BULK_BATCH = 1000;

function targetFor(settings: Settings, broker: 'redis' | 'amqp', scenario: string, rep: number): Target {
  const prefix = broker === 'redis' ? prefixFor(settings, scenario, 'x', rep) : '';
  return {
    broker: broker === 'redis' ? settings.redisUrl : settings.amqpUrl,
    backend: settings.redisUrl,
    prefix,
    queue: `bench-${settings.runId}-${scenario}-${rep}`,
  };
}

async function cleanup(settings: Settings, broker: 'redis' | 'amqp', target: Target): Promise<void> {
  if (broker === 'redis') {
    const redis = client(settings.redisUrl);
    await deletePrefix(redis, target.prefix);
    redis.disconnect();
  } else {
    await deleteAmqpQueue(settings.amqpUrl, target.queue);
  }
}

function celeriac(scenario: string, broker: 'redis' | 'amqp', bulk: boolean): Contender {
  return {
    system: 'celeriac',
    label: bulk ? `Celeriac applyAsyncMany x${BULK_BATCH}` : 'Celeriac applyAsync, awaited',
    async run(settings, rep) {
      const target = targetFor(settings, broker, `${scenario}c`, rep);
      const app = celeriacApp(target);
      const noop = app.task('bench.noop', (i: number) => i);
      try {
        await Promise.all(Array.from({ length: WARMUP }, (_, i) => noop.applyAsync([i])));
        const start = performance.now();
        if (bulk) {
          for (let from = 0; from < settings.n; from += BULK_BATCH) {
            const size = Math.min(BULK_BATCH, settings.n - from);
            await noop.applyAsyncMany(Array.from({ length: size }, (_, i) => [from + i] as [number]));
          }
        } else {
          for (let i = 0; i < settings.n; i++) await noop.applyAsync([i]);
        }
        const seconds = (performance.now() - start) / 1000;
        return { rate: settings.n / seconds };
      } finally {
        await app.close();
        await cleanup(settings, broker, target);
      }
    },
  };
}

function celery(scenario: string, broker: 'redis' | 'amqp', bulk: boolean): Contender {
  return {
    system: 'celery',
    label: bulk ? 'Celery group.apply_async' : 'Celery apply_async loop',
    unavailable: pythonUnavailable,
    async run(settings, rep) {
      const target = targetFor(settings, broker, `${scenario}p`, rep);
      try {
        const out = await runCeleryProducer<{ seconds: number }>(
          settings,
          target,
          bulk ? 'bulk' : 'enqueue',
          settings.n,
        );
        return { rate: settings.n / out.seconds };
      } finally {
        await cleanup(settings, broker, target);
      }
    },
  };
}

function bullmq(scenario: string, bulk: boolean): Contender {
  return {
    system: 'bullmq',
    label: bulk ? `BullMQ addBulk x${BULK_BATCH}` : 'BullMQ add, awaited',
    async run(settings, rep) {
      const prefix = prefixFor(settings, `${scenario}b`, 'bull', rep).slice(0, -1);
      const connection = bullConnection(settings.redisUrl);
      const queue = new Queue('bench', { connection, prefix });
      try {
        await queue.addBulk(Array.from({ length: WARMUP }, (_, i) => ({ name: 'noop', data: { i } })));
        const start = performance.now();
        if (bulk) {
          for (let from = 0; from < settings.n; from += BULK_BATCH) {
            const size = Math.min(BULK_BATCH, settings.n - from);
            await queue.addBulk(
              Array.from({ length: size }, (_, i) => ({ name: 'noop', data: { i: from + i } })),
            );
          }
        } else {
          for (let i = 0; i < settings.n; i++) await queue.add('noop', { i });
        }
        const seconds = (performance.now() - start) / 1000;
        return { rate: settings.n / seconds };
      } finally {
        await queue.close();
        await deletePrefix(connection, prefix);
        connection.disconnect();
      }
    },
  };
}

export function enqueueScenario(settings: Settings, bulk: boolean): Scenario {
  const id = bulk ? '2' : '1';
  return {
    id,
    title: bulk
      ? `Enqueue ${settings.n} tasks in bulk (Redis)`
      : `Enqueue ${settings.n} tasks one at a time, each awaited (Redis)`,
    metrics: RATE,
    contenders: [celeriac(id, 'redis', bulk), celery(id, 'redis', bulk), bullmq(id, bulk)],
  };
}

export function amqpEnqueueScenario(settings: Settings): Scenario {
  return {
    id: '7.1',
    title: `RabbitMQ: enqueue ${settings.n} tasks one at a time, each awaited`,
    metrics: RATE,
    contenders: [celeriac('7.1', 'amqp', false), celery('7.1', 'amqp', false)],
  };
}
