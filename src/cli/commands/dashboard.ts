/**
 * `celeriac dashboard`: the web monitor (src/dashboard), Flower's replacement: workers, tasks, queues, plots, a
 * send-task form, Flower's HTTP API and Prometheus `/metrics`. SIGINT/SIGTERM stop it (flushing `--persistent`).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { Celery } from '../../index.js';
import {
  createDashboard,
  parseBasicAuth,
  tuneHeapForDashboard,
  type ControlPort,
  type EventsPort,
} from '../../dashboard/index.js';
import { loadApp } from '../load-app.js';
import { CliError, globalOptions } from '../main.js';

interface DashboardFlags {
  port: string;
  address: string;
  basicAuth?: string;
  urlPrefix?: string;
  maxTasks: string;
  persistent?: boolean;
  db: string;
  unsafeNoAuth?: boolean;
  inspectTimeout: string;
}

function integer(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min)
    throw new CliError(`${flag} must be an integer >= ${min}, got "${text}"`, 2);
  return n;
}

/** The monitoring plane: `app.events` and `app.control`. */
function monitoringOf(app: Celery): { events: EventsPort; control: ControlPort } {
  return { events: app.events, control: app.control };
}

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description("serve the web dashboard (workers, tasks, queues, plots), Flower's HTTP API and /metrics")
    .option('--port <port>', 'port to listen on', '5555')
    .option('--address <address>', 'address to listen on', '127.0.0.1')
    .option('--basic-auth <users>', 'user:password[,user2:password2]; user:password:ro is a read-only user')
    .option('--url-prefix <prefix>', 'serve under this path (behind a reverse proxy), e.g. /flower')
    .option(
      '--max-tasks <n>',
      'tasks kept in memory (and on disk with --persistent), oldest first out',
      '10000',
    )
    .option('--persistent', 'keep tasks and workers in SQLite across restarts')
    .option('--db <file>', 'the SQLite file for --persistent', 'celeriac-dashboard.db')
    .option('--inspect-timeout <seconds>', 'how long worker inspection waits for replies', '1')
    .option('--unsafe-no-auth', 'allow a non-loopback --address without --basic-auth')
    .action(async (flags: DashboardFlags, command: Command) => {
      // This process is the dashboard: keep its heap near what the tasks need (dashboard/heap.ts).
      tuneHeapForDashboard();
      const port = integer('--port', flags.port, 0);
      const maxTasks = integer('--max-tasks', flags.maxTasks, 1);
      const inspectTimeout = Number(flags.inspectTimeout);
      if (!(inspectTimeout > 0))
        throw new CliError(
          `--inspect-timeout must be a positive number of seconds, got "${flags.inspectTimeout}"`,
          2,
        );
      let users;
      try {
        users = flags.basicAuth ? parseBasicAuth(flags.basicAuth) : [];
      } catch (error) {
        throw new CliError((error as Error).message, 2);
      }
      const app = await loadApp(globalOptions(command));
      let dashboard;
      try {
        dashboard = createDashboard({
          app,
          ...monitoringOf(app),
          port,
          address: flags.address,
          users,
          unsafeNoAuth: flags.unsafeNoAuth ?? false,
          urlPrefix: flags.urlPrefix ?? '',
          maxTasks,
          inspectTimeout,
          db: flags.persistent ? resolve(flags.db) : undefined,
        });
      } catch (error) {
        await app.close();
        throw new CliError((error as Error).message, 2);
      }
      const url = await dashboard.start();
      process.stdout.write(`celeriac dashboard listening on ${url}\n`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await dashboard.stop();
      await app.close();
      process.stdout.write('celeriac dashboard stopped\n');
    });
}
