/** `celeriac result <id>`: the state and result of a task, as stored by any Celery or Celeriac worker. */
import type { Command } from 'commander';
import { EXCEPTION_STATES, exceptionFromMeta, encodeJson } from '../../index.js';
import { loadApp } from '../load-app.js';
import { globalOptions } from '../main.js';

export function registerResult(program: Command): void {
  program
    .command('result')
    .description("print a task's state and result")
    .argument('<task-id>', 'the task id')
    .option('--traceback', 'print the traceback of a failed task')
    .option('--json', 'print the whole stored meta as JSON')
    .action(async (taskId: string, flags: { traceback?: boolean; json?: boolean }, command: Command) => {
      const app = await loadApp(globalOptions(command));
      try {
        const meta = await app.AsyncResult(taskId).meta();
        if (flags.json) {
          process.stdout.write(`${encodeJson(meta)}\n`);
          return;
        }
        process.stdout.write(`${meta.status}\n`);
        if (EXCEPTION_STATES.has(meta.status)) {
          const error = exceptionFromMeta(meta.result, meta.traceback, taskId);
          process.stdout.write(`${error.excType}: ${error.remoteMessage}\n`);
          if (flags.traceback && meta.traceback) process.stdout.write(`${meta.traceback}\n`);
          // A failed (or revoked) task is a failure of the command too, so scripts can test `$?`.
          process.exitCode = 1;
        } else {
          process.stdout.write(`${encodeJson(meta.result)}\n`);
        }
      } finally {
        await app.close();
      }
    });
}
