/**
 * `celeriac worker`: start a worker. SIGTERM shuts it down warm (exit 0), SIGINT too (exit 1, as Celery); a second
 * one, or SIGQUIT, cold (exit 1). SIGHUP restarts it when it is not attached to a terminal (Celery's rule, so that
 * closing a terminal does not restart a worker into the background); in a terminal it shuts down warm.
 * `--detach`, `--pidfile` and `--logfile` run it as a daemon (daemon.ts, docs/daemonizing.md).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname, platform, release } from 'node:os';
import { resolve } from 'node:path';
import {
  Beat,
  createLogger,
  createPidlock,
  EX_CANTCREAT,
  expandNodename,
  importModules,
  INCLUDE_ENV,
  logFileDestination,
  maskUrl,
  nodeFormat,
  parseLogLevel,
  Pidfile,
  PidfileLocked,
  Worker,
  instrumentTracing,
  type Celery,
  type Logger,
  type PoolName,
  type WorkerOptions,
} from '../../index.js';
import { WorkerMetrics } from '../../dashboard/index.js';
import {
  detach,
  EX_RESTART,
  isDetached,
  isRestartedChild,
  reportToDetachParent,
  respawn,
  restartLoop,
} from '../daemon.js';
import { loadApp } from '../load-app.js';
import { CliError, globalOptions } from '../main.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
const POOLS: readonly PoolName[] = ['async', 'solo', 'threads', 'prefork'];

interface WorkerFlags {
  include?: string;
  concurrency?: string;
  pool?: string;
  queues?: string;
  excludeQueues?: string;
  purge?: boolean;
  withoutMingle?: boolean;
  hostname?: string;
  loglevel: string;
  logFormat: string;
  prefetchMultiplier?: string;
  shutdownTimeout?: string;
  autoscale?: string;
  maxTasksPerChild?: string;
  maxMemoryPerChild?: string;
  detach?: boolean;
  pidfile?: string;
  logfile?: string;
  timeLimit?: string;
  softTimeLimit?: string;
  beat?: boolean;
  schedule?: string;
  metricsPort?: string;
  taskEvents?: boolean;
  withoutHeartbeat?: boolean;
  heartbeatInterval?: string;
}

function positiveInt(flag: string, text: string | undefined, allowZero = false): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new CliError(
      `${flag} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got "${text}"`,
      2,
    );
  }
  return value;
}

/** `--autoscale max,min` (min defaults to 0, as in Celery). */
function parseAutoscale(text: string): [number, number] {
  const [maxText = '', minText = '0'] = text.split(',');
  const max = Number(maxText);
  const min = Number(minText);
  if (!Number.isInteger(max) || !Number.isInteger(min) || max < 1 || min < 0 || min > max) {
    throw new CliError(`--autoscale must be max,min with max >= min >= 0, e.g. 10,3; got "${text}"`, 2);
  }
  return [max, min];
}

function seconds(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(Number.isFinite(value) && value > 0)) {
    throw new CliError(`${flag} must be a positive number of seconds, got "${text}"`, 2);
  }
  return value;
}

/** Celery's banner shows autoscale as `{min=3, max=10}` (celery/apps/worker.py). */
function concurrency(worker: Worker): string {
  if (!worker.autoscale) return String(worker.concurrency);
  const [max, min] = worker.autoscale;
  return `{min=${min}, max=${max}}`;
}

function banner(app: Celery, worker: Worker): string {
  const conf = app.conf;
  const queues = worker.queues
    .map(
      (q) =>
        `                .> ${q.name.padEnd(16)} exchange=${q.exchange ?? q.name}(${q.exchangeType ?? 'direct'}) key=${q.routingKey ?? q.name}`,
    )
    .join('\n');
  // Celery's banner leaves its built-in tasks out too.
  const tasks = [...app.tasks.keys()]
    .filter((name) => !name.startsWith('celery.'))
    .sort()
    .map((name) => `  . ${name}`)
    .join('\n');
  return [
    ` -------------- ${worker.hostname} v${pkg.version} (celeriac)`,
    `--- ***** ----- `,
    `-- ******* ---- ${platform()}-${release()} ${new Date().toISOString().replace('T', ' ').slice(0, 19)}`,
    `- *** --- * --- `,
    `- ** ---------- [config]`,
    `- ** ---------- .> app:         ${app.main}`,
    `- ** ---------- .> transport:   ${maskUrl(conf.broker)}`,
    `- ** ---------- .> results:     ${conf.backend ? maskUrl(conf.backend) : 'disabled://'}`,
    `- *** --- * --- .> concurrency: ${concurrency(worker)} (${worker.poolName})`,
    `-- ******* ---- .> task events: ${eventsLine(worker)}`,
    `--- ***** ----- `,
    ` -------------- [queues]`,
    queues,
    '',
    '[tasks]',
    tasks,
    '',
  ].join('\n');
}

/** Celery's banner line, and whether heartbeats go out (Celery's banner does not say; ours does when they don't). */
function eventsLine(worker: Worker): string {
  const events = worker.sendTaskEvents ? 'ON' : 'OFF (enable -E to monitor tasks in this worker)';
  return worker.sendHeartbeats ? events : `${events}; heartbeats OFF (--without-heartbeat)`;
}

/**
 * `-I a.ts,b.ts`: imports them after the app, here and (through CELERIAC_INCLUDE, with paths made absolute) in
 * every pool child, which loads the app itself.
 */
async function includeModules(list: string): Promise<void> {
  const modules = list
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '')
    .map((m) => (existsSync(resolve(m)) ? resolve(m) : m));
  process.env[INCLUDE_ENV] = modules.join(',');
  await importModules(modules, '-I');
}

function workerOptions(flags: WorkerFlags, logger: Logger, appModule: string | undefined): WorkerOptions {
  const options: WorkerOptions = { logger };
  if (appModule) options.appModule = appModule;
  const concurrency = positiveInt('-c', flags.concurrency);
  if (concurrency !== undefined) options.concurrency = concurrency;
  if (flags.pool) options.pool = flags.pool;
  if (flags.queues)
    options.queues = flags.queues
      .split(',')
      .map((q) => q.trim())
      .filter(Boolean);
  if (flags.hostname) options.hostname = flags.hostname;
  const multiplier = positiveInt('--prefetch-multiplier', flags.prefetchMultiplier, true);
  if (multiplier !== undefined) options.prefetchMultiplier = multiplier;
  const shutdownTimeout = seconds('--shutdown-timeout', flags.shutdownTimeout);
  if (shutdownTimeout !== undefined) options.shutdownTimeout = shutdownTimeout;
  const timeLimit = seconds('--time-limit', flags.timeLimit);
  if (timeLimit !== undefined) options.timeLimit = timeLimit;
  const softTimeLimit = seconds('--soft-time-limit', flags.softTimeLimit);
  if (softTimeLimit !== undefined) options.softTimeLimit = softTimeLimit;
  if (flags.autoscale !== undefined) options.autoscale = parseAutoscale(flags.autoscale);
  const maxTasks = positiveInt('--max-tasks-per-child', flags.maxTasksPerChild);
  if (maxTasks !== undefined) options.maxTasksPerChild = maxTasks;
  const maxMemory = positiveInt('--max-memory-per-child', flags.maxMemoryPerChild);
  if (maxMemory !== undefined) options.maxMemoryPerChild = maxMemory;
  if (flags.taskEvents) options.taskEvents = true;
  if (flags.withoutHeartbeat) options.heartbeat = false;
  if (flags.withoutMingle) options.mingle = false;
  const heartbeatInterval = seconds('--heartbeat-interval', flags.heartbeatInterval);
  if (heartbeatInterval !== undefined) options.heartbeatInterval = heartbeatInterval;
  return options;
}

function checkFlags(flags: WorkerFlags): void {
  if (flags.pool !== undefined && !POOLS.includes(flags.pool as PoolName)) {
    throw new CliError(`-P ${flags.pool}: unknown pool, use one of ${POOLS.join(', ')}`, 2);
  }
  if (flags.logFormat !== 'text' && flags.logFormat !== 'json') {
    throw new CliError(`--log-format must be text or json, got "${flags.logFormat}"`, 2);
  }
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('start a worker that consumes tasks from the broker')
    .option(
      '-c, --concurrency <n>',
      'tasks run at once (default: 50 for async, CPU count for threads/prefork)',
    )
    .option('-P, --pool <name>', `pool: ${POOLS.join(', ')} (default: the app's workerPool, async)`)
    .option('-Q, --queues <names>', 'comma-separated queues to consume from (default: the default queue)')
    .option(
      '-I, --include <modules>',
      'comma-separated modules to import after the app (their tasks registered), as Celery',
    )
    .option('-X, --exclude-queues <names>', 'comma-separated queues not to consume from (removed from -Q)')
    .option('--purge', 'delete the waiting messages of the queues before starting (no undo)')
    .option('--without-gossip', 'accepted for Celery compatibility (Celeriac workers do not gossip)')
    .option('--without-mingle', 'do not ask the other workers for their revoked ids at start-up (mingle)')
    .option(
      '-n, --hostname <name>',
      'node name, with %h (host), %n (short host), %d (domain): e.g. w1@%h (default: celery@<host>)',
    )
    .option('-l, --loglevel <level>', 'debug, info, warning, error, critical', 'warning')
    .option('--log-format <format>', 'text (Celery style) or json', 'text')
    .option('--prefetch-multiplier <n>', 'messages reserved per concurrency slot (0 = unlimited)')
    .option(
      '--shutdown-timeout <seconds>',
      'how long a warm shutdown waits for running tasks before turning cold',
    )
    .option('--autoscale <max,min>', 'grow and shrink the threads/prefork pool with the load, e.g. 10,3')
    .option('--max-tasks-per-child <n>', 'replace a pool child after this many tasks')
    .option('--max-memory-per-child <KiB>', 'replace a pool child whose memory passed this after a task')
    .option('-D, --detach', 'run in the background (with --pidfile and --logfile)')
    .option('--pidfile <path>', 'write the pid here, e.g. %n.pid (%n node name, %h host)')
    .option('-f, --logfile <path>', 'log to this file instead of stderr, e.g. %n%I.log')
    .option('--time-limit <seconds>', 'hard time limit for tasks without their own (default: taskTimeLimit)')
    .option(
      '--soft-time-limit <seconds>',
      'soft time limit for tasks without their own (default: taskSoftTimeLimit)',
    )
    .option('-B, --beat', 'also run the periodic task scheduler (beat) in this worker')
    .option('-E, --task-events', 'send task events, for monitors (default: workerSendTaskEvents)')
    .option('--without-heartbeat', 'send no worker-online, worker-heartbeat and worker-offline events')
    .option('--heartbeat-interval <seconds>', 'seconds between worker-heartbeat events (default 2)')
    .option('-s, --schedule <file>', 'with -B: the JSON file beat keeps its state in')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port (127.0.0.1)')
    .action(async (flags: WorkerFlags, command: Command) => {
      checkFlags(flags);
      let level;
      try {
        level = parseLogLevel(flags.loglevel);
      } catch (error) {
        throw new CliError((error as Error).message, 2);
      }
      const nodename = expandNodename(flags.hostname);
      const logfile = flags.logfile ? resolve(nodeFormat(flags.logfile, nodename)) : null;
      const pidfile = flags.pidfile ? resolve(nodeFormat(flags.pidfile, nodename)) : null;
      if (flags.detach && !isDetached()) {
        // Fail here, in the foreground, when the node already runs (Celery's detached() does the same).
        if (pidfile) checkPidfile(pidfile);
        process.exitCode = await detach(logfile);
        return;
      }
      const destination = logfile ? { destination: logFileDestination(logfile) } : {};
      const logger = createLogger({ level, format: flags.logFormat as 'text' | 'json', ...destination });
      let worker: Worker;
      let releasePidfile: (() => void) | undefined;
      let metrics: WorkerMetrics | undefined;
      const metricsPort = positiveInt('--metrics-port', flags.metricsPort);
      try {
        const globals = globalOptions(command);
        const app = await loadApp(globals);
        if (flags.include) await includeModules(flags.include);
        app.logger = logger;
        // Continues OpenTelemetry traces when @opentelemetry/api is installed (a no-op otherwise).
        await instrumentTracing(app);
        const options = workerOptions(flags, logger, globals.app);
        const queues = withoutExcluded(options.queues ?? [app.conf.taskDefaultQueue], flags.excludeQueues);
        options.queues = queues;
        if (flags.purge) {
          const count = await app.purge(queues);
          process.stdout.write(
            `purge: Erased ${count} ${count === 1 ? 'message' : 'messages'} from the queue.\n`,
          );
        }
        if (flags.beat) {
          options.beat = new Beat(app, {
            logger,
            ...(flags.schedule ? { scheduleFilename: flags.schedule } : {}),
          });
        }
        worker = new Worker(app, options);
        releasePidfile = pidfile ? lockPidfile(pidfile) : undefined;
        if (metricsPort !== undefined) {
          const named = worker;
          metrics = new WorkerMetrics(app, () => named.hostname);
          await metrics.listen(metricsPort);
        }
      } catch (error) {
        await reportToDetachParent({ ok: false, message: (error as Error).message });
        throw error;
      }
      await reportToDetachParent({ ok: true });
      if (flags.logFormat === 'text' && !globalOptions(command).quiet)
        process.stdout.write(`${banner(worker.app, worker)}\n`);
      const outcome = await runUntilStopped(worker, logger);
      await metrics?.close();
      releasePidfile?.();
      logger.info(`${worker.hostname} stopped (${hostname()}, pid ${process.pid})`);
      process.exitCode = outcome === 'restart' ? await restart() : outcome;
    });
}

/** `-X`: the queues left once the excluded ones are removed (Celery's `--exclude-queues`). */
function withoutExcluded(queues: readonly string[], exclude: string | undefined): string[] {
  const excluded = new Set((exclude ?? '').split(',').map((q) => q.trim()));
  const left = queues.filter((q) => !excluded.has(q));
  if (left.length === 0) {
    throw new CliError(
      `-X ${exclude ?? ''} leaves no queue to consume from (queues: ${queues.join(', ')})`,
      2,
    );
  }
  return left;
}

function checkPidfile(path: string): void {
  try {
    new Pidfile(path).check();
  } catch (error) {
    if (error instanceof PidfileLocked) throw new CliError(error.message, EX_CANTCREAT);
    throw error;
  }
}

function lockPidfile(path: string): () => void {
  try {
    return createPidlock(path);
  } catch (error) {
    if (error instanceof PidfileLocked) throw new CliError(error.message, EX_CANTCREAT);
    throw error;
  }
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'] as const;

/** Runs the worker until a signal (or a fatal error) stops it; resolves with the exit code, or `restart`. */
async function runUntilStopped(worker: Worker, logger: Logger): Promise<number | 'restart'> {
  let signals = 0;
  let code = 0;
  let restarting = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGHUP') {
      // A restart or shutdown is already under way; a second SIGHUP must not turn it cold.
      if (signals > 0) return;
      if (!process.stdout.isTTY) {
        restarting = true;
        signals++;
        logger.warn(`Restarting celeriac worker (${process.argv.slice(1).join(' ')})`);
        void worker.stop();
        return;
      }
    }
    signals++;
    const cold = signal === 'SIGQUIT' || signals > 1;
    if (cold || signal === 'SIGINT') code = 1;
    restarting = false;
    logger.warn(
      `worker: ${cold ? 'Cold' : 'Warm'} shutdown (MainProcess) on ${signal}` +
        (cold ? '' : '; send it again to stop at once'),
    );
    void worker.stop({ cold });
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  try {
    await worker.start();
    await worker.done;
  } finally {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
  if (worker.failure) return 1;
  return restarting ? 'restart' : code;
}

/**
 * SIGHUP, once the worker has shut down warm: a detached worker starts its replacement and exits; a worker
 * started by a foreground restart asks its parent to start the next one; a foreground worker starts the
 * replacement and stays as its parent (daemon.ts `restartLoop`).
 */
async function restart(): Promise<number> {
  if (isDetached()) {
    respawn();
    return 0;
  }
  if (isRestartedChild()) return EX_RESTART;
  return restartLoop();
}
