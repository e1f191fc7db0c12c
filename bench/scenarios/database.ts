/**
 * Scenario 4.2: scenario 4 with the results stored in PostgreSQL by the database backend instead of Redis:
 * Celeriac's `db+postgresql://` (pg, batched upserts) beside Python Celery's own (`db+postgresql://`, SQLAlchemy and
 * psycopg2), both writing Celery's `celery_taskmeta` table. Broker: Redis, kombu layout, started as in scenario 4
 * (staging key, RENAME). Done: N SUCCESS rows. Each run has its own database, dropped afterwards.
 * PostgreSQL: `BENCH_PG_URL` (default postgresql://postgres@127.0.0.1:5432/postgres), a user that can create databases.
 */
import pg from 'pg';
import { until, type WorkerProcess } from '../lib/processes.js';
import { client, deletePrefix, stageKombuMessages } from '../lib/redis.js';
import {
  prefixFor,
  startCeleriacWorker,
  startCeleryWorker,
  type CeleryPool,
  type Target,
} from '../lib/systems.js';
import type { Contender, Sample, Scenario, Settings } from '../lib/types.js';
import { pythonUnavailable } from './common.js';
import { PROCESS_METRICS } from './process.js';

const TIMEOUT_MS = 600_000;
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function admin<T>(fn: (c: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const url = new URL(ADMIN_URL);
  if (database) url.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: url.toString() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** SUCCESS rows among `ids`; 0 while the table does not exist yet (the worker creates it). */
async function stored(c: pg.Client, ids: readonly string[]): Promise<number> {
  try {
    const { rows } = await c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM celery_taskmeta WHERE status = 'SUCCESS' AND task_id = ANY($1)",
      [ids],
    );
    return rows[0]?.n ?? 0;
  } catch {
    return 0;
  }
}

async function run(
  settings: Settings,
  tag: string,
  rep: number,
  start: (target: Target) => Promise<WorkerProcess>,
): Promise<Sample> {
  const database = `celeriac_bench_${settings.runId}_${tag}_${rep}`.replace(/\W+/g, '_').toLowerCase();
  await admin((c) => c.query(`CREATE DATABASE "${database}"`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  const target: Target = {
    broker: settings.redisUrl,
    backend: `db+${url.toString()}`,
    prefix: prefixFor(settings, '4.2', tag, rep),
    queue: `bench-${settings.runId}-4.2-${tag}-${rep}`,
    ignoreResult: false,
  };
  const redis = client(settings.redisUrl);
  let worker: WorkerProcess | undefined;
  try {
    worker = await start(target);
    const staging = `${target.prefix}staging`;
    const ids = await stageKombuMessages(redis, staging, target.queue, settings.n, false);
    return await admin(async (c) => {
      const t0 = performance.now();
      await redis.rename(staging, `${target.prefix}${target.queue}`);
      await until(async () => (await stored(c, ids)) === settings.n, {
        timeoutMs: TIMEOUT_MS,
        what: `${settings.n} results in PostgreSQL`,
        progress: async () => settings.n - (await stored(c, ids)),
      });
      return { rate: settings.n / ((performance.now() - t0) / 1000) };
    }, database);
  } finally {
    await worker?.stop();
    await deletePrefix(redis, target.prefix);
    redis.disconnect();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
  }
}

function contender(
  system: 'celeriac' | 'celery',
  label: string,
  start: (t: Target) => Promise<WorkerProcess>,
): Contender {
  return {
    system,
    label,
    ...(system === 'celery' ? { unavailable: pythonUnavailable } : {}),
    run: (settings, rep) => run(settings, label.replace(/\W+/g, '-').toLowerCase(), rep, start),
  };
}

export function databaseProcessScenario(settings: Settings): Scenario {
  const celery = (pool: CeleryPool, concurrency: number) => (target: Target) =>
    startCeleryWorker(settings, target, pool, concurrency);
  return {
    id: '4.2',
    title: `Process ${settings.n} pre-filled tasks, results stored in PostgreSQL (database backend, Redis broker)`,
    metrics: PROCESS_METRICS,
    contenders: [
      contender('celeriac', 'Celeriac async -c 50', (target) => startCeleriacWorker(target, 50)),
      // Celery's threads pool is left out here: on this backend it ran about 12 tasks/s (bench/README.md).
      contender('celery', 'Celery prefork -c 2', celery('prefork', 2)),
    ],
  };
}
