/**
 * `npm run chaos`: the reliability battery (issue 15; reliability brief §6) on private brokers started here (a
 * redis-server on a free port, a RabbitMQ node of its own), never the shared ones. Each scenario sends N `record`
 * tasks (50-200 ms, seeded), starts two workers (-c 2, prefetch multiplier 4), injects its fault, heals, starts
 * replacements where the fault killed workers, and waits (bounded) until every task finished or is FAILURE. Prints
 * sent / once / duplicated / lost (silent) / FAILURE / in flight at the fault / time to resume, with Celery 5.2.6's
 * figure from the battery beside it.
 *
 *   npm run chaos                        # every scenario, N = 200
 *   npm run chaos -- --only B2,B3 --n 500
 *   npm run chaos -- --acceptance        # issue 15's acceptance runs (poison x pools x 2,000; kill -9 x3 x 5,000)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { uuid } from '../../src/protocol/ids.js';
import { States } from '../../src/types.js';
import { startPrivateNode, type PrivateNode } from '../support/rabbitmq.js';
import { testClient, type PrivateRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';
import { ChaosRun, privateRedis, until, type Counts, type WorkerProcess } from './harness.js';

interface Row {
  id: string;
  what: string;
  counts: Counts;
  inFlight: number;
  resumeS: number | null;
  celery: string;
  verdict: string;
  note?: string;
}

interface Brokers {
  redis: PrivateRedis;
  amqp: PrivateNode | null;
  dir: { path: string; remove(): void };
}

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
};
const N = Number(flag('--n') ?? 200);
const only = flag('--only')?.split(',');
const duration = (i: number): number => 50 + ((i * 7919) % 151);

function verdict(c: Counts, inFlight: number, late: boolean): string {
  if (c.lost === 0 && c.duplicated === 0 && c.reexecuted === 0 && c.failed === 0) return 'EXACT';
  if (late && c.lost === 0 && c.failed === 0 && c.duplicated <= Math.max(inFlight, 4)) return 'ALO';
  if (!late && c.duplicated === 0 && c.silent === 0 && c.lost === 0) return 'AMO, 0 silent';
  return 'FAIL';
}

interface FaultSpec {
  id: string;
  what: string;
  celery: string;
  broker: 'redis' | 'amqp';
  late?: boolean;
  pool?: 'async' | 'prefork' | 'threads';
  /** The fault; returns the workers it killed (started again after it). */
  fault: (run: ChaosRun, workers: WorkerProcess[], brokers: Brokers) => Promise<WorkerProcess[]>;
  /** Allowed to end with some tasks FAILURE (WorkerLostError) rather than run. */
}

async function faultScenario(spec: FaultSpec, brokers: Brokers): Promise<Row> {
  const late = spec.late ?? false;
  const broker = spec.broker === 'redis' ? brokers.redis.url : brokers.amqp!.url;
  const run = new ChaosRun({
    broker,
    backend: brokers.redis.url.replace(/\/0$/, '/1'),
    env: { CHAOS_VISIBILITY: '10' },
  });
  try {
    const pool = spec.pool ?? 'async';
    const workerArgs = ['-P', pool, '-c', '2', '--prefetch-multiplier', '4'];
    await run.send(N, { late, ms: duration });
    const workers = [run.startWorker(workerArgs), run.startWorker(workerArgs)];
    await Promise.all(workers.map((w) => w.ready()));
    await until(() => run.finished() >= N / 5, 90_000, 20);
    const inFlight = run.inFlight();
    const killed = await spec.fault(run, workers, brokers);
    const healed = Date.now();
    for (const _ of killed) await run.startWorker(workerArgs).ready();
    await until(async () => (await run.settled()) === N, 120_000, 250);
    const counts = await run.counts();
    const resume = run.firstDoneAfter(healed);
    return {
      id: spec.id,
      what: spec.what,
      counts,
      inFlight,
      resumeS: resume === null ? null : Math.max(0, (resume - healed) / 1000),
      celery: spec.celery,
      verdict: verdict(counts, inFlight, late),
    };
  } finally {
    await run.close();
  }
}

const killGroups = async (_run: ChaosRun, workers: WorkerProcess[]): Promise<WorkerProcess[]> => {
  await workers[0]!.killGroup('SIGKILL');
  return [workers[0]!];
};

/** The prefork children of a worker process (not tsx's esbuild service). */
function children(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((child) => {
        try {
          return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('child');
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

const SCENARIOS: FaultSpec[] = [
  {
    id: 'B1',
    what: 'baseline, no fault (Redis)',
    celery: 'exp. EXACT',
    broker: 'redis',
    fault: async () => [],
  },
  {
    id: 'B2',
    what: 'kill -9 worker group, early ack (Redis)',
    celery: 'M1: 2 lost silently (PENDING)',
    broker: 'redis',
    fault: killGroups,
  },
  {
    id: 'B3',
    what: 'kill -9 worker group, acksLate (Redis)',
    celery: 'M2: ALO, 0 lost, 2 re-run',
    broker: 'redis',
    late: true,
    fault: killGroups,
  },
  {
    id: 'B2a',
    what: 'kill -9 worker group, early ack (RabbitMQ)',
    celery: 'exp. as M1',
    broker: 'amqp',
    fault: killGroups,
  },
  {
    id: 'B3a',
    what: 'kill -9 worker group, acksLate (RabbitMQ)',
    celery: 'exp. as M2',
    broker: 'amqp',
    late: true,
    fault: killGroups,
  },
  {
    id: 'B4',
    what: 'kill -9 one prefork child mid-task (Redis)',
    celery: 'M3: 1 lost, FAILURE WorkerLostError',
    broker: 'redis',
    pool: 'prefork',
    fault: async (_run, workers) => {
      const [child] = children(workers[0]!.pid);
      if (child) process.kill(child, 'SIGKILL');
      return [];
    },
  },
  {
    id: 'B5',
    what: 'SIGTERM main pid, warm (Redis)',
    celery: 'M5: EXACT, exit 0 in 3.2 s',
    broker: 'redis',
    fault: async (_run, workers) => {
      workers[0]!.proc.kill('SIGTERM');
      const code = await workers[0]!.proc.exited();
      if (code !== 0) throw new Error(`warm shutdown exited ${code}`);
      return [workers[0]!];
    },
  },
  {
    id: 'B6',
    what: 'SIGTERM whole process group, prefork (Redis)',
    celery: 'M6: 2 lost',
    broker: 'redis',
    pool: 'prefork',
    fault: async (_run, workers) => {
      const code = await workers[0]!.killGroup('SIGTERM');
      if (code !== 0) throw new Error(`warm shutdown exited ${code}`);
      return [workers[0]!];
    },
  },
  {
    id: 'B7',
    what: 'cold shutdown (SIGQUIT), early ack (Redis)',
    celery: 'M7: 2 lost',
    broker: 'redis',
    fault: async (_run, workers) => {
      workers[0]!.proc.kill('SIGQUIT');
      await workers[0]!.proc.exited();
      return [workers[0]!];
    },
  },
  {
    id: 'B7l',
    what: 'cold shutdown (SIGQUIT), acksLate (Redis)',
    celery: 'M8: ALO',
    broker: 'redis',
    late: true,
    fault: async (_run, workers) => {
      workers[0]!.proc.kill('SIGQUIT');
      await workers[0]!.proc.exited();
      return [workers[0]!];
    },
  },
  {
    id: 'B8',
    what: 'CLIENT KILL x3 within 3 s (Redis)',
    celery: 'M9: EXACT, ~1 s',
    broker: 'redis',
    fault: async (_run, _workers, { redis }) => {
      const client = testClient(redis.url);
      for (let k = 0; k < 3; k++) {
        await client.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      client.disconnect();
      return [];
    },
  },
  {
    id: 'B11',
    what: 'redis-server kill -9 + restart (AOF always), acksLate',
    celery: 'M13: 15/15, 2 re-run',
    broker: 'redis',
    late: true,
    fault: async (_run, _workers, { redis }) => {
      await redis.kill();
      await redis.launch();
      return [];
    },
  },
  {
    id: 'B11a',
    what: 'rabbitmqctl stop_app, 5 s, start_app, acksLate',
    celery: 'M16: 2 completed twice',
    broker: 'amqp',
    late: true,
    fault: async (_run, _workers, { amqp }) => {
      await amqp!.ctl(['stop_app']);
      await new Promise((resolve) => setTimeout(resolve, 5000));
      await amqp!.ctl(['start_app']);
      return [];
    },
  },
];

/** Acceptance (issue 15): a poison among 2,000 normal tasks in each pool, for each kind of poison. */
async function poisonAcceptance(brokers: Brokers): Promise<string[]> {
  const lines: string[] = [];
  for (const pool of ['async', 'solo', 'threads', 'prefork'] as const) {
    for (const kind of ['timer', 'rejection', 'exit']) {
      const db = `sqlite://${join(brokers.dir.path, `${uuid().slice(0, 8)}.db`)}`;
      const run = new ChaosRun({ broker: db, env: { CHAOS_POLLING: '0.02' } });
      try {
        const started = Date.now();
        const worker = run.startWorker(['-P', pool, '-c', pool === 'solo' ? '1' : '4']);
        await worker.ready();
        await run.send(1000);
        const poison = await run.app().sendTask('chaos.poison', [kind], {}, { queue: run.queue });
        await run.send(1000);
        await until(() => run.finished() === 2000, 300_000, 250);
        await until(async () => (await poison.state()) === States.FAILURE, 60_000, 250);
        const c = await run.counts();
        const alive = worker.proc.child.exitCode === null;
        lines.push(
          `| ${pool} | ${kind} | ${c.once}/2000 once, ${c.duplicated} dup, ${c.lost} lost | ${await poison.state()} | ` +
            `${alive ? 'alive' : 'died'} | ${((Date.now() - started) / 1000).toFixed(1)} s |`,
        );
      } finally {
        await run.close();
      }
      process.stdout.write(`${lines.at(-1)}\n`);
    }
  }
  return lines;
}

/** Acceptance: kill -9 three times during 5,000 tasks, early and late acks (Redis). */
async function killAcceptance(brokers: Brokers, late: boolean): Promise<string> {
  const run = new ChaosRun({
    broker: brokers.redis.url,
    backend: brokers.redis.url.replace(/\/0$/, '/1'),
    env: { CHAOS_VISIBILITY: '10' },
  });
  try {
    const total = 5000;
    const workerArgs = ['-P', 'async', '-c', '8'];
    await run.send(total, { late, ms: (i) => 5 + (i % 20) });
    let worker = run.startWorker(workerArgs);
    await worker.ready();
    let inFlight = 0;
    for (let k = 1; k <= 3; k++) {
      await until(() => run.finished() >= (total * k) / 4, 300_000, 20);
      await worker.killGroup('SIGKILL');
      inFlight += run.inFlight();
      worker = run.startWorker(workerArgs);
      await worker.ready();
    }
    await until(async () => (await run.settled()) === total, 300_000, 500);
    const c = await run.counts();
    const failures = [...c.failures].map(([t, n]) => `${n} ${t}`).join(', ') || 'none';
    return (
      `| kill -9 x3, ${late ? 'acksLate' : 'early ack'} | ${c.sent} | ${c.once} | ${c.duplicated} | ${c.lost} ` +
      `(${c.silent} silent) | ${failures} | ${inFlight} |`
    );
  } finally {
    await run.close();
  }
}

function table(rows: Row[]): string {
  const out = [
    '| # | Scenario | sent | once | dup | lost (silent) | FAILURE | in flight | resume | verdict | Celery 5.2.6 |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const c = r.counts;
    out.push(
      `| ${r.id} | ${r.what} | ${c.sent} | ${c.once} | ${c.duplicated} | ${c.lost} (${c.silent}) | ${c.failed} | ` +
        `${r.inFlight} | ${r.resumeS === null ? '-' : `${r.resumeS.toFixed(1)} s`} | ${r.verdict} | ${r.celery} |`,
    );
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const dir = tempDir('chaos');
  const redis = await privateRedis();
  const wantsAmqp = args.includes('--acceptance')
    ? false
    : SCENARIOS.some((s) => s.broker === 'amqp' && (!only || only.includes(s.id)));
  let amqp: PrivateNode | null = null;
  if (wantsAmqp) {
    try {
      amqp = await startPrivateNode('chaos');
    } catch (error) {
      process.stdout.write(`No private RabbitMQ node (${(error as Error).message}); AMQP rows skipped\n`);
    }
  }
  const brokers: Brokers = { redis, amqp, dir };
  try {
    if (args.includes('--acceptance')) {
      process.stdout.write(
        '| pool | poison | normal tasks | poison state | worker | time |\n|---|---|---|---|---|---|\n',
      );
      await poisonAcceptance(brokers);
      process.stdout.write(
        '\n| run | sent | once | dup | lost | FAILURE | in flight at the kills |\n|---|---|---|---|---|---|---|\n',
      );
      for (const late of [false, true]) process.stdout.write(`${await killAcceptance(brokers, late)}\n`);
      return;
    }
    const rows: Row[] = [];
    for (const spec of SCENARIOS) {
      if (only && !only.includes(spec.id)) continue;
      if (spec.broker === 'amqp' && !amqp) continue;
      const started = Date.now();
      try {
        rows.push(await faultScenario(spec, brokers));
      } catch (error) {
        rows.push({
          id: spec.id,
          what: spec.what,
          counts: { sent: N, once: 0, duplicated: 0, reexecuted: 0, lost: N, silent: 0, failed: 0 },
          inFlight: 0,
          resumeS: null,
          celery: spec.celery,
          verdict: `ERROR: ${(error as Error).message.split('\n')[0]}`,
        });
      }
      process.stdout.write(
        `${spec.id} done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${rows.at(-1)!.verdict}\n`,
      );
    }
    process.stdout.write(`\n${table(rows)}\n`);
    if (rows.some((r) => r.verdict === 'FAIL' || r.verdict.startsWith('ERROR'))) process.exitCode = 1;
  } finally {
    await amqp?.stop();
    await redis.stop();
    dir.remove();
  }
}

await main();
