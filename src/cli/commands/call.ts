/** `celeriac call NAME --args JSON --kwargs JSON [...] [--wait]`: send a task by name, optionally wait for it. */
import type { Command } from 'commander';
import { isCeleriacError, type CallOptions, type RemoteTaskError, encodeJson } from '../../index.js';
import { loadApp } from '../load-app.js';
import { CliError, globalOptions } from '../main.js';

interface CallFlags {
  args: string;
  kwargs: string;
  countdown?: string;
  eta?: string;
  expires?: string;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  priority?: string;
  serializer?: string;
  wait?: boolean;
  timeout?: string;
}

function parseJson(flag: string, text: string, shape: 'array' | 'object'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(
      `${flag} is not valid JSON: ${(error as Error).message} (example: ${shape === 'array' ? "'[2, 3]'" : '\'{"x": 1}\''})`,
      2,
    );
  }
  const ok =
    shape === 'array'
      ? Array.isArray(value)
      : typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!ok) throw new CliError(`${flag} must be a JSON ${shape}, got ${text}`, 2);
  return value;
}

function seconds(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0)
    throw new CliError(`${flag} must be a non-negative number of seconds, got "${text}"`, 2);
  return value;
}

/** `--expires`: seconds from now, or an ISO-8601 date and time (as `celery call --expires` takes both). */
function expiresOption(text: string | undefined): number | Date | undefined {
  if (text === undefined) return undefined;
  if (/^\d{4}-\d\d-\d\d/.test(text)) {
    const date = new Date(text);
    if (Number.isNaN(date.getTime()))
      throw new CliError(
        `--expires is not a valid ISO-8601 date: "${text}" (example: 2026-12-31T23:59:00Z)`,
        2,
      );
    return date;
  }
  return seconds('--expires', text);
}

export function registerCall(program: Command): void {
  program
    .command('call')
    .description('send a task by name; prints its id (and, with --wait, its result as JSON on the last line)')
    .argument('<name>', 'task name, e.g. tasks.add')
    .option('-a, --args <json>', 'positional arguments as a JSON array', '[]')
    .option('-k, --kwargs <json>', 'keyword arguments as a JSON object', '{}')
    .option('--countdown <seconds>', 'run no earlier than this many seconds from now')
    .option('--eta <iso>', 'run no earlier than this ISO-8601 time')
    .option(
      '--expires <seconds|iso>',
      'revoke the task if it has not started within this many seconds, or by this ISO-8601 time',
    )
    .option('-Q, --queue <name>', 'queue to send to')
    .option('--exchange <name>', 'exchange to publish to')
    .option('--routing-key <key>', 'routing key')
    .option('--priority <0-9>', 'message priority')
    .option('--serializer <name>', 'json or msgpack')
    .option('--wait', 'wait for the result and print it as JSON')
    .option('--timeout <seconds>', 'with --wait, give up after this many seconds')
    .action(async (name: string, flags: CallFlags, command: Command) => {
      const args = parseJson('--args', flags.args, 'array') as unknown[];
      const kwargs = parseJson('--kwargs', flags.kwargs, 'object') as Record<string, unknown>;
      const options: CallOptions = {};
      const countdown = seconds('--countdown', flags.countdown);
      if (countdown !== undefined) options.countdown = countdown;
      if (flags.eta !== undefined) options.eta = flags.eta;
      const expires = expiresOption(flags.expires);
      if (expires !== undefined) options.expires = expires;
      if (flags.queue) options.queue = flags.queue;
      if (flags.exchange) options.exchange = flags.exchange;
      if (flags.routingKey) options.routingKey = flags.routingKey;
      if (flags.priority !== undefined) {
        const priority = Number(flags.priority);
        if (!Number.isInteger(priority) || priority < 0 || priority > 255)
          throw new CliError(`--priority must be an integer 0-9, got "${flags.priority}"`, 2);
        options.priority = priority;
      }
      if (flags.serializer) options.serializer = flags.serializer;
      const timeout = seconds('--timeout', flags.timeout);
      const app = await loadApp(globalOptions(command));
      try {
        const result = await app.sendTask(name, args, kwargs, options);
        process.stdout.write(`${result.id}\n`);
        if (!flags.wait) return;
        const value = await result.get({
          ...(timeout !== undefined ? { timeout } : {}),
          // Every update, as Celery's on_message sees each one (the backend drops exact repeats only).
          onProgress: (meta) => {
            const line = `${meta.status}${meta.result !== null ? ` ${encodeJson(meta.result)}` : ''}`;
            process.stderr.write(`${result.id}: ${line}\n`);
          },
        });
        process.stdout.write(`${encodeJson(value ?? null)}\n`);
      } catch (error) {
        if (isCeleriacError(error, 'RemoteTaskError')) {
          const remote = error as RemoteTaskError;
          throw new CliError(`task ${name} failed: ${remote.excType}: ${remote.remoteMessage}`);
        }
        if (isCeleriacError(error, 'TimeoutError'))
          throw new CliError(`no result after ${timeout}s: ${(error as Error).message}`);
        throw error;
      } finally {
        await app.close();
      }
    });
}
