/**
 * `celeriac control <command> [args] [-d NODE,..] [-t S] [-j]`: change the workers at runtime, Celeriac or
 * Python (Celery's `celery control`): revoke, terminate, rate_limit, time_limit, pool_grow, shutdown, ...
 */
import type { Command } from 'commander';
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

export function registerControl(program: Command): void {
  remoteOptions(
    program
      .command('control')
      .description(
        'remote-control the workers: revoke, terminate, rate_limit, time_limit, add_consumer, cancel_consumer, ' +
          'pool_grow, pool_shrink, autoscale, enable_events, disable_events, heartbeat, shutdown',
      )
      .argument('<command>', 'the control command')
      .argument('[args...]', "the command's arguments"),
  ).action(async (name: string, args: string[], flags: RemoteFlags, command: Command) => {
    const timeout = parseTimeout(flags.timeout);
    const app = await loadApp(globalOptions(command));
    try {
      const meta = app.control.commands().find((c) => c.name === name && c.type === 'control' && c.visible);
      if (!meta) {
        const known = app.control
          .commands()
          .filter((c) => c.type === 'control' && c.visible)
          .map((c) => c.name);
        throw new CliError(`Unknown control command "${name}": one of ${known.join(', ')}`, 2);
      }
      const destination = parseDestination(flags.destination);
      const replies = await app.control.broadcast(name, {
        arguments: compileArguments(meta, args),
        reply: true,
        timeout,
        ...(destination ? { destination } : {}),
        ...(flags.json ? {} : { callback: (reply) => sayReply(reply, true) }),
      });
      finish(replies.length, flags.json ?? false, replies);
    } finally {
      await app.close();
    }
  });
}
