/** `celeriac status [-d NODE,..] [-t S] [-j]`: the workers that answer a ping (Celery's `celery status`). */
import type { Command } from 'commander';
import type { JsonValue } from '../../index.js';
import { loadApp } from '../load-app.js';
import { globalOptions } from '../main.js';
import {
  finish,
  parseDestination,
  parseTimeout,
  remoteOptions,
  sayReply,
  type RemoteFlags,
} from './remote.js';

export function registerStatus(program: Command): void {
  remoteOptions(program.command('status').description('show the workers that are online')).action(
    async (flags: RemoteFlags, command: Command) => {
      const timeout = parseTimeout(flags.timeout);
      const app = await loadApp(globalOptions(command));
      try {
        const destination = parseDestination(flags.destination);
        const replies = await app.control.ping({
          timeout,
          ...(destination ? { destination } : {}),
          ...(flags.json ? {} : { callback: (reply) => sayReply(reply, false) }),
        });
        const merged: Record<string, JsonValue> = Object.assign({}, ...replies) as Record<string, JsonValue>;
        if (flags.json) process.stdout.write(`${JSON.stringify(merged)}\n`);
        finish(replies.length, false, merged);
      } finally {
        await app.close();
      }
    },
  );
}
