/**
 * `celeriac inspect <command> [args] [-d NODE,..] [-t S] [-j]`: ask the workers, Celeriac or Python, what they
 * are doing (Celery's `celery inspect`). Commands and their arguments are those of `app.control.commands()`.
 */
import type { Command } from 'commander';
import type { JsonValue } from '../../index.js';
import { loadApp } from '../load-app.js';
import { CliError, globalOptions } from '../main.js';
import {
  compileArguments,
  finish,
  parseDestination,
  parseTimeout,
  remoteOptions,
  sayReply,
  type RemoteFlags,
} from './remote.js';

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
  ).action(async (name: string, args: string[], flags: RemoteFlags, command: Command) => {
    const timeout = parseTimeout(flags.timeout);
    const app = await loadApp(globalOptions(command));
    try {
      const meta = app.control.commands().find((c) => c.name === name && c.type === 'inspect' && c.visible);
      if (!meta) {
        const known = app.control
          .commands()
          .filter((c) => c.type === 'inspect' && c.visible)
          .map((c) => c.name);
        throw new CliError(`Unknown inspect command "${name}": one of ${known.join(', ')}`, 2);
      }
      const destination = parseDestination(flags.destination);
      const replies = await app.control.broadcast(name, {
        arguments: compileArguments(meta, args),
        reply: true,
        timeout,
        ...(destination ? { destination } : {}),
        ...(flags.json ? {} : { callback: (reply) => sayReply(reply, true) }),
      });
      const merged: Record<string, JsonValue> = Object.assign({}, ...replies) as Record<string, JsonValue>;
      finish(replies.length, flags.json ?? false, merged);
    } finally {
      await app.close();
    }
  });
}
