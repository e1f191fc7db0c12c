/**
 * `celeriac inspect <command> [args] [-d NODE,..] [-t S] [-j]`: ask the workers, Celeriac or Python, what they
 * are doing (Celery's `celery inspect`). Commands and their arguments are those of `app.control.commands()`.
 */
import type { Command } from 'commander';
import type { JsonValue } from '../../index.js';
import { remoteAction, remoteOptions } from './remote.js';

export function registerInspect(program: Command): void {
  remoteOptions(
    program
      .command('inspect')
      .description(
        'inspect the workers at runtime: ping, stats, active, scheduled, reserved, revoked, registered, ' +
          'query_task, active_queues, conf, report, clock',
      )
      .argument('<command>', 'the inspect command')
      .argument('[args...]', "the command's arguments"),
  ).action(remoteAction('inspect', (replies) => Object.assign({}, ...replies) as Record<string, JsonValue>));
}
