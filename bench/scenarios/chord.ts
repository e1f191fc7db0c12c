/**
 * Scenario 6: a chord of N no-op header tasks whose body sums their results, from apply to the body's result, with
 * a warm worker; results in Redis. BullMQ's equivalent is a flow: a parent job that runs once its N children have
 * completed and reads their values.
 *
 * Celeriac's side is written against the canvas API (`chord(header, body).applyAsync()`, `task.s(...)`); until that
 * API is exported, its row says so instead of a figure.
 */
import { FlowProducer, QueueEvents } from 'bullmq';
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
import type { Contender, Metric, Scenario, Settings } from '../lib/types.js';
import { pythonUnavailable } from './common.js';

const METRICS: Metric[] = [{ key: 'ms', label: 'ms', unit: 'ms', better: 'lower' }];

interface Signature {
  readonly __signature?: true;
}
interface ChordResult {
  /** `timeout` in milliseconds. */
  get(options?: { timeout?: number }): Promise<unknown>;
  readonly id: string;
}
type ChordFn = (header: Signature[], body: Signature) => { applyAsync(): Promise<ChordResult> };
interface SignatureTask {
  s(...args: unknown[]): Signature;
}

async function chordExport(): Promise<ChordFn | undefined> {
  const api = (await import('../../src/index.js')) as Record<string, unknown>;
  return typeof api.chord === 'function' ? (api.chord as ChordFn) : undefined;
}

function targetFor(settings: Settings, system: string, rep: number): Target {
  return {
    broker: settings.redisUrl,
    backend: settings.redisUrl,
    prefix: prefixFor(settings, '6', system, rep),
    queue: `bench-${settings.runId}-6-${system}-${rep}`,
  };
}

async function cleanup(
  settings: Settings,
  target: Target,
  ids: readonly string[],
  groups: readonly string[],
): Promise<void> {
  const redis = client(settings.redisUrl);
  await deleteResults(redis, ids);
  for (const group of groups) await deletePrefix(redis, `celery-taskset-meta-${group}`);
  await deletePrefix(redis, target.prefix);
  redis.disconnect();
}

function celeriac(): Contender {
  return {
    system: 'celeriac',
    label: 'Celeriac async -c 50',
    async unavailable() {
      return (await chordExport()) ? undefined : 'canvas not available';
    },
    async run(settings, rep) {
      const chord = (await chordExport())!;
      const target = targetFor(settings, 'celeriac', rep);
      const app = celeriacApp(target);
      const noop = app.task('bench.noop', (i: number) => i) as unknown as SignatureTask;
      const tsum = app.task('bench.tsum', (values: number[]) =>
        values.reduce((a, b) => a + b, 0),
      ) as unknown as SignatureTask;
      let worker: WorkerProcess | undefined;
      const ids: string[] = [];
      try {
        worker = await startCeleriacWorker(target, 50);
        const warm = await chord(
          Array.from({ length: 10 }, (_, i) => noop.s(i)),
          tsum.s(),
        ).applyAsync();
        await warm.get({ timeout: 60 });
        ids.push(warm.id);
        const t0 = performance.now();
        const result = await chord(
          Array.from({ length: settings.chordSize }, (_, i) => noop.s(i)),
          tsum.s(),
        ).applyAsync();
        const value = await result.get({ timeout: 300 });
        const ms = performance.now() - t0;
        ids.push(result.id);
        const expected = (settings.chordSize * (settings.chordSize - 1)) / 2;
        if (value !== expected) throw new Error(`chord body returned ${String(value)}, expected ${expected}`);
        return { ms };
      } finally {
        await app.close();
        await worker?.stop();
        await cleanup(settings, target, ids, []);
      }
    },
  };
}

function celery(): Contender {
  return {
    system: 'celery',
    label: 'Celery prefork -c 2',
    unavailable: pythonUnavailable,
    async run(settings, rep) {
      const target = targetFor(settings, 'celery', rep);
      let worker: WorkerProcess | undefined;
      let out: { seconds: number; ids: string[]; groups: string[] } = { seconds: 0, ids: [], groups: [] };
      try {
        worker = await startCeleryWorker(settings, target, 'prefork', 2);
        out = await runCeleryProducer(settings, target, 'chord', settings.chordSize);
        return { ms: out.seconds * 1000 };
      } finally {
        await worker?.stop();
        await cleanup(settings, target, out.ids, out.groups);
      }
    },
  };
}

function bullmq(): Contender {
  return {
    system: 'bullmq',
    label: 'BullMQ flow (parent + children)',
    async run(settings, rep) {
      const prefix = prefixFor(settings, '6', 'bull', rep).slice(0, -1);
      const connection = bullConnection(settings.redisUrl);
      const flows = new FlowProducer({ connection, prefix });
      const events = new QueueEvents('bench', { connection: bullConnection(settings.redisUrl), prefix });
      let worker: WorkerProcess | undefined;
      const flow = (size: number) =>
        flows.add({
          name: 'tsum',
          queueName: 'bench',
          children: Array.from({ length: size }, (_, i) => ({
            name: 'noop',
            queueName: 'bench',
            data: { i },
          })),
        });
      try {
        await events.waitUntilReady();
        worker = await startBullWorker(settings, prefix, 'bench', 50);
        const warm = await flow(10);
        await warm.job.waitUntilFinished(events, 60_000);
        const t0 = performance.now();
        const node = await flow(settings.chordSize);
        const value: unknown = await node.job.waitUntilFinished(events, 300_000);
        const ms = performance.now() - t0;
        const expected = (settings.chordSize * (settings.chordSize - 1)) / 2;
        if (value !== expected)
          throw new Error(`flow parent returned ${String(value)}, expected ${expected}`);
        return { ms };
      } finally {
        await worker?.stop();
        await events.close();
        await flows.close();
        await deletePrefix(connection, prefix);
        connection.disconnect();
      }
    },
  };
}

export function chordScenario(settings: Settings): Scenario {
  return {
    id: '6',
    title: `Chord of ${settings.chordSize} header tasks, apply to body result, warm worker (Redis)`,
    metrics: METRICS,
    contenders: [celeriac(), celery(), bullmq()],
  };
}
