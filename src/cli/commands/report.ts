/**
 * `celeriac report`: what to paste into a bug report (Celery's `celery report`): versions, platform, the app and
 * where it sends tasks and keeps results (passwords masked).
 */
import type { Command } from 'commander';
import { createRequire } from 'node:module';
import { release } from 'node:os';
import { maskUrl } from '../../index.js';
import { loadApp } from '../load-app.js';
import { globalOptions } from '../main.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('print versions, platform and the app settings that matter in a bug report')
    .action(async (_flags: unknown, command: Command) => {
      const app = await loadApp(globalOptions(command));
      const conf = app.conf;
      const transport = conf.broker.split(':')[0] ?? conf.broker;
      process.stdout.write(
        [
          `software -> celeriac:${pkg.version} node:${process.versions.node} (Celery 5.2 protocol)`,
          `platform -> system:${process.platform} arch:${process.arch}`,
          `            kernel version:${release()}`,
          `app      -> ${app.main}`,
          `settings -> transport:${transport} results:${conf.backend ? maskUrl(conf.backend) : 'disabled'}`,
          '',
          `broker: ${maskUrl(conf.broker)}`,
          `result_backend: ${conf.backend ? maskUrl(conf.backend) : 'None'}`,
          `task_default_queue: ${conf.taskDefaultQueue}`,
          '',
        ].join('\n'),
      );
      await app.close();
    });
}
