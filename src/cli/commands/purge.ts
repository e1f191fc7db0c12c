/** `celeriac purge [-Q queues] [-f]`: delete every waiting message in the given queues. */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { loadApp } from '../load-app.js';
import { CliError, globalOptions } from '../main.js';

async function confirm(queues: readonly string[]): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new CliError(
      `refusing to purge ${queues.join(', ')} without confirmation: pass -f to purge without asking`,
    );
  }
  process.stderr.write(
    `WARNING: This will remove all tasks from ${queues.length > 1 ? 'queues' : 'queue'}: ${queues.join(', ')}.\n` +
      '         There is no undo for this operation!\n\n(to skip this prompt use the -f option)\n\n',
  );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question('Are you sure you want to delete all tasks (yes/NO)? ');
    return ['y', 'yes'].includes(answer.trim().toLowerCase());
  } finally {
    rl.close();
  }
}

export function registerPurge(program: Command): void {
  program
    .command('purge')
    .description('delete every waiting task message in the queues')
    .option('-Q, --queues <names>', 'comma-separated queue names (default: the default queue)')
    .option('-X, --exclude-queues <names>', 'comma-separated queue names to leave alone')
    .option('-f, --force', 'do not ask for confirmation')
    .action(async (flags: { queues?: string; excludeQueues?: string; force?: boolean }, command: Command) => {
      const app = await loadApp(globalOptions(command));
      try {
        const exclude = new Set((flags.excludeQueues ?? '').split(',').filter(Boolean));
        const queues = (flags.queues ? flags.queues.split(',') : [app.conf.taskDefaultQueue])
          .map((q) => q.trim())
          .filter((q) => q && !exclude.has(q));
        if (queues.length === 0) throw new CliError('no queues to purge', 2);
        if (!flags.force && !(await confirm(queues))) {
          process.stderr.write('Aborted: nothing purged.\n');
          return;
        }
        const count = await app.purge(queues);
        process.stdout.write(
          `Purged ${count} ${count === 1 ? 'message' : 'messages'} from ${queues.length} known task ${queues.length === 1 ? 'queue' : 'queues'}.\n`,
        );
      } finally {
        await app.close();
      }
    });
}
