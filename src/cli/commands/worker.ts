/** `celeriac worker`: start a worker; SIGTERM/SIGINT shut it down warm, a second signal or SIGQUIT cold. */
import type { Command } from 'commander';
import { createRequire } from 'node:module';
import { hostname, platform, release } from 'node:os';
import type { Celery } from '../../app/celery.js';
import type { PoolName } from '../../app/config.js';
import { maskUrl } from '../../lifecycle/url.js';
import { createLogger, parseLogLevel } from '../../lifecycle/logger.js';
import { Worker, type WorkerOptions } from '../../worker/worker.js';
import { loadApp } from '../load-app.js';
import { CliError, globalOptions } from '../main.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
const POOLS: readonly PoolName[] = ['async', 'solo', 'threads', 'prefork'];

interface WorkerFlags {
  concurrency?: string;
  pool?: string;
  queues?: string;
  hostname?: string;
  loglevel: string;
  logFormat: string;
  prefetchMultiplier?: string;
  shutdownTimeout?: string;
  timeLimit?: string;
  softTimeLimit?: string;
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

function seconds(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(Number.isFinite(value) && value > 0)) {
    throw new CliError(`${flag} must be a positive number of seconds, got "${text}"`, 2);
  }
  return value;
}

function banner(app: Celery, worker: Worker): string {
  const conf = app.conf;
  const queues = worker.queues
    .map(
      (q) =>
        `                .> ${q.name.padEnd(16)} exchange=${q.exchange ?? q.name}(${q.exchangeType ?? 'direct'}) key=${q.routingKey ?? q.name}`,
    )
    .join('\n');
  const tasks = [...app.tasks.keys()]
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
    `- *** --- * --- .> concurrency: ${worker.concurrency} (${worker.poolName})`,
    `-- ******* ---- .> task events: OFF`,
    `--- ***** ----- `,
    ` -------------- [queues]`,
    queues,
    '',
    '[tasks]',
    tasks,
    '',
  ].join('\n');
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
    .option('-n, --hostname <name>', 'node name, with %h (host), %n (short host), %d (domain): e.g. w1@%h')
    .option('-l, --loglevel <level>', 'debug, info, warning, error, critical', 'warning')
    .option('--log-format <format>', 'text (Celery style) or json', 'text')
    .option('--prefetch-multiplier <n>', 'messages reserved per concurrency slot (0 = unlimited)')
    .option(
      '--shutdown-timeout <seconds>',
      'how long a warm shutdown waits for running tasks before turning cold',
    )
    .option('--time-limit <seconds>', 'hard time limit for tasks without their own (default: taskTimeLimit)')
    .option(
      '--soft-time-limit <seconds>',
      'soft time limit for tasks without their own (default: taskSoftTimeLimit)',
    )
    .action(async (flags: WorkerFlags, command: Command) => {
      if (flags.pool !== undefined && !POOLS.includes(flags.pool as PoolName)) {
        throw new CliError(`-P ${flags.pool}: unknown pool, use one of ${POOLS.join(', ')}`, 2);
      }
      if (flags.logFormat !== 'text' && flags.logFormat !== 'json') {
        throw new CliError(`--log-format must be text or json, got "${flags.logFormat}"`, 2);
      }
      let level;
      try {
        level = parseLogLevel(flags.loglevel);
      } catch (error) {
        throw new CliError((error as Error).message, 2);
      }
      const logger = createLogger({ level, format: flags.logFormat });
      const app = await loadApp(globalOptions(command));
      app.logger = logger;
      const options: WorkerOptions = { logger };
      const concurrency = positiveInt('-c', flags.concurrency);
      if (concurrency !== undefined) options.concurrency = concurrency;
      if (flags.pool) options.pool = flags.pool as PoolName;
      if (flags.queues)
        options.queues = flags.queues
          .split(',')
          .map((q) => q.trim())
          .filter(Boolean);
      if (flags.hostname) options.hostname = flags.hostname;
      const multiplier = positiveInt('--prefetch-multiplier', flags.prefetchMultiplier, true);
      if (multiplier !== undefined) options.prefetchMultiplier = multiplier;
      if (flags.shutdownTimeout !== undefined) {
        const timeout = Number(flags.shutdownTimeout);
        if (!(timeout > 0)) throw new CliError(`--shutdown-timeout must be a positive number of seconds`, 2);
        options.shutdownTimeout = timeout;
      }
      const timeLimit = seconds('--time-limit', flags.timeLimit);
      if (timeLimit !== undefined) options.timeLimit = timeLimit;
      const softTimeLimit = seconds('--soft-time-limit', flags.softTimeLimit);
      if (softTimeLimit !== undefined) options.softTimeLimit = softTimeLimit;
      const worker = new Worker(app, options);
      if (flags.logFormat === 'text') process.stdout.write(`${banner(app, worker)}\n`);
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals++;
        const cold = signal === 'SIGQUIT' || signals > 1;
        logger.warn(
          `${signal} received: ${cold ? 'cold' : 'warm'} shutdown${cold ? '' : ' (send it again to stop at once)'}`,
        );
        void worker.stop({ cold });
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      process.on('SIGQUIT', onSignal);
      try {
        await worker.start();
        await worker.done;
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        process.off('SIGQUIT', onSignal);
      }
      logger.info(`${worker.hostname} stopped (${hostname()}, pid ${process.pid})`);
    });
}
