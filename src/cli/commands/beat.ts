/**
 * `celeriac beat`: the periodic task scheduler (Celery's `celery beat`). The schedule is checked before anything
 * starts: every mistake is printed and the process exits 1, having sent nothing. SIGTERM and SIGINT stop it (a
 * leader gives its lease up, so a standby beat takes over at once). `--detach`, `--pidfile` and `--logfile` run it
 * as a daemon, as the worker does.
 */
import type { Command } from 'commander';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import {
  Beat,
  createLogger,
  createPidlock,
  EX_CANTCREAT,
  logFileDestination,
  maskUrl,
  parseLogLevel,
  Pidfile,
  PidfileLocked,
  type Celery,
  type Logger,
} from '../../index.js';
import { detach, isDetached, reportToDetachParent } from '../daemon.js';
import { loadApp } from '../load-app.js';
import { CliError, globalOptions } from '../main.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

interface BeatFlags {
  schedule?: string;
  maxInterval?: string;
  loglevel: string;
  logFormat: string;
  detach?: boolean;
  pidfile?: string;
  logfile?: string;
}

function banner(app: Celery, beat: Beat, flags: BeatFlags, logfile: string | null): string {
  const store =
    beat.storeKind === 'file'
      ? resolve(flags.schedule ?? app.conf.beatScheduleFilename)
      : `shared (${maskUrl(app.conf.broker)})`;
  return [
    `celeriac beat v${pkg.version} is starting.`,
    `LocalTime -> ${new Date().toISOString().replace('T', ' ').slice(0, 19)}`,
    'Configuration ->',
    `    . broker -> ${maskUrl(app.conf.broker)}`,
    `    . app -> ${app.main} (${beat.entries.length} entries, timezone ${app.timezone})`,
    `    . db -> ${store}`,
    `    . logfile -> ${logfile ?? '[stderr]'}@%${flags.loglevel.toUpperCase()}`,
    `    . maxinterval -> ${beat.maxInterval.toFixed(2)} seconds`,
    '',
  ].join('\n');
}

function maxInterval(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(Number.isFinite(value) && value > 0))
    throw new CliError(`--max-interval must be a positive number of seconds, got "${text}"`, 2);
  return value;
}

function lockPidfile(path: string): () => void {
  try {
    return createPidlock(path);
  } catch (error) {
    if (error instanceof PidfileLocked) throw new CliError(error.message, EX_CANTCREAT);
    throw error;
  }
}

/** Runs beat until SIGTERM, SIGINT or SIGQUIT; resolves once it has stopped. */
async function runUntilStopped(beat: Beat, logger: Logger): Promise<void> {
  let stopping: Promise<void> | undefined;
  const stopped = new Promise<void>((resolveStopped) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      logger.warn(`beat: Shutting down on ${signal}`);
      stopping = beat.stop().finally(() => {
        for (const s of SIGNALS) process.off(s, onSignal);
        resolveStopped();
      });
    };
    for (const s of SIGNALS) process.on(s, onSignal);
  });
  await beat.start();
  await stopped;
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

export function registerBeat(program: Command): void {
  program
    .command('beat')
    .description('start the periodic task scheduler')
    .option('-s, --schedule <file>', 'the JSON file beat keeps its state in (default: beatScheduleFilename)')
    .option('--max-interval <seconds>', 'most seconds between two looks at the schedule (default 300)')
    .option('-l, --loglevel <level>', 'debug, info, warning, error, critical', 'warning')
    .option('--log-format <format>', 'text (Celery style) or json', 'text')
    .option('-D, --detach', 'run in the background (with --pidfile and --logfile)')
    .option('--pidfile <path>', 'write the pid here')
    .option('-f, --logfile <path>', 'log to this file instead of stderr')
    .action(async (flags: BeatFlags, command: Command) => {
      let level;
      try {
        level = parseLogLevel(flags.loglevel);
      } catch (error) {
        throw new CliError((error as Error).message, 2);
      }
      if (flags.logFormat !== 'text' && flags.logFormat !== 'json')
        throw new CliError(`--log-format must be text or json, got "${flags.logFormat}"`, 2);
      const logfile = flags.logfile ? resolve(flags.logfile) : null;
      const pidfile = flags.pidfile ? resolve(flags.pidfile) : null;
      if (flags.detach && !isDetached()) {
        if (pidfile) new Pidfile(pidfile).check();
        process.exitCode = await detach(logfile);
        return;
      }
      const destination = logfile ? { destination: logFileDestination(logfile) } : {};
      const logger = createLogger({ level, format: flags.logFormat, ...destination });
      let beat: Beat;
      let release: (() => void) | undefined;
      try {
        const app = await loadApp(globalOptions(command));
        app.logger = logger;
        const interval = maxInterval(flags.maxInterval);
        beat = new Beat(app, {
          logger,
          ...(flags.schedule ? { scheduleFilename: flags.schedule } : {}),
          ...(interval !== undefined ? { maxInterval: interval } : {}),
        });
        release = pidfile ? lockPidfile(pidfile) : undefined;
      } catch (error) {
        await reportToDetachParent({ ok: false, message: (error as Error).message });
        throw error;
      }
      await reportToDetachParent({ ok: true });
      if (flags.logFormat === 'text') process.stdout.write(`${banner(beat.app, beat, flags, logfile)}\n`);
      try {
        await runUntilStopped(beat, logger);
      } finally {
        release?.();
        await beat.app.close();
      }
    });
}
