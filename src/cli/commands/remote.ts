/**
 * What `celeriac inspect`, `control` and `status` share, shaped as Celery's `celery/bin/control.py`: the
 * `-t/--timeout` (seconds), `-d/--destination` and `-j/--json` options, positional arguments turned into keyword
 * arguments by the command's metadata (`_compile_arguments`), replies printed as they come (`->  node: OK` and the
 * body, Celery's `pretty`), and "No nodes replied within time constraint" on stderr with exit code 69
 * (EX_UNAVAILABLE) when no worker answered.
 */
import type { Command } from 'commander';
import type { CommandMeta, JsonValue } from '../../index.js';
import { loadApp } from '../load-app.js';
import { CliError, globalOptions } from '../main.js';

/** `EX_UNAVAILABLE`, Celery's exit code when no node replied. */
export const EX_UNAVAILABLE = 69;

export interface RemoteFlags {
  timeout: string;
  destination?: string;
  json?: boolean;
}

export function remoteOptions(command: Command): Command {
  return command
    .option('-t, --timeout <seconds>', 'timeout in seconds waiting for replies', '1.0')
    .option('-d, --destination <nodes>', 'comma-separated list of destination node names')
    .option('-j, --json', 'use JSON as output format');
}

export function parseTimeout(value: string): number {
  const seconds = Number(value);
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    throw new CliError(`-t/--timeout must be a positive number of seconds, got ${JSON.stringify(value)}`, 2);
  }
  return seconds;
}

export function parseDestination(value: string | undefined): string[] | undefined {
  const nodes = (value ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  return nodes.length > 0 ? nodes : undefined;
}

/** Positional arguments to keyword arguments, by the command's `args` and `variadic` (Celery's rules). */
export function compileArguments(
  meta: CommandMeta,
  positional: readonly string[],
): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  let i = 0;
  for (; i < positional.length; i++) {
    const spec = meta.args[i];
    if (!spec) {
      if (meta.variadic) break;
      throw new CliError(`Command ${meta.name} takes arguments: ${meta.signature || '(none)'}`, 2);
    }
    const [name, type] = spec;
    const raw = positional[i]!;
    if (type === 'str') {
      out[name] = raw;
      continue;
    }
    const n = Number(raw);
    if (!Number.isFinite(n) || (type === 'int' && !Number.isInteger(n))) {
      throw new CliError(
        `${meta.name}: ${name} must be ${type === 'int' ? 'an integer' : 'a number'}, got ${raw}`,
        2,
      );
    }
    out[name] = n;
  }
  if (meta.variadic) out[meta.variadic] = positional.slice(i);
  return out;
}

function indent(text: string, by: number): string {
  const pad = ' '.repeat(by);
  return text
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

/** Python's `json.dumps(sort_keys=True, indent=4)`. */
function sortedJson(value: JsonValue): string {
  const sort = (v: JsonValue): JsonValue => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort(v[k]!)]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 4);
}

/** Celery's `CLIContext.pretty`: a status (OK/ERROR) and the text of a reply. */
export function pretty(reply: JsonValue): [string, string] {
  if (Array.isArray(reply)) {
    const items = reply.map((item) => `* ${typeof item === 'string' ? item : JSON.stringify(item)}`);
    return ['OK', items.length > 0 ? items.join('\n') : '- empty -'];
  }
  if (reply && typeof reply === 'object') {
    if ('ok' in reply) return ['OK', indent(pretty(reply.ok)[1], 4)];
    if ('error' in reply) return ['ERROR', indent(pretty(reply.error)[1], 4)];
    return ['OK', sortedJson(reply)];
  }
  if (typeof reply === 'string') return ['OK', reply];
  return ['OK', reply === null ? 'None' : String(reply)];
}

/** Prints one reply as Celery does: `->  node: OK` and, with `body`, the reply indented. */
export function sayReply(reply: Record<string, JsonValue>, body: boolean): void {
  const node = Object.keys(reply)[0];
  if (node === undefined) return;
  const [status, text] = pretty(reply[node]!);
  process.stdout.write(`->  ${node}: ${status}\n`);
  if (body && text) process.stdout.write(`${indent(text, 4)}\n`);
}

/** The end of every remote command: exit 69 when no node replied, else the node count (Celery's footer). */
export function finish(count: number, json: boolean, replies: JsonValue): void {
  if (count === 0) throw new CliError('No nodes replied within time constraint', EX_UNAVAILABLE);
  if (json) {
    process.stdout.write(`${JSON.stringify(replies)}\n`);
    return;
  }
  process.stdout.write(`\n${count} ${count === 1 ? 'node' : 'nodes'} online.\n`);
}

/**
 * Awaits `work` with the process held alive: broker connections do not keep it alive (a producer exits by itself),
 * and closing one must finish before the command's exit code is set.
 */
export async function held<T>(work: Promise<T>): Promise<T> {
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    return await work;
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * The action of `celeriac inspect` and `celeriac control`: finds the command among the visible ones of its type
 * (a usage error naming the known ones otherwise), broadcasts it with the positional arguments compiled, prints
 * replies as they come (or all of them with -j, `shape` turning the replies into what is printed) and ends as
 * `finish` says.
 */
export function remoteAction(
  type: 'inspect' | 'control',
  shape: (replies: Record<string, JsonValue>[]) => JsonValue,
): (name: string, args: string[], flags: RemoteFlags, command: Command) => Promise<void> {
  return async (name, args, flags, command) => {
    const timeout = parseTimeout(flags.timeout);
    const app = await loadApp(globalOptions(command));
    try {
      const visible = app.control.commands().filter((c) => c.type === type && c.visible);
      const meta = visible.find((c) => c.name === name);
      if (!meta) {
        const known = visible.map((c) => c.name);
        throw new CliError(`Unknown ${type} command "${name}": one of ${known.join(', ')}`, 2);
      }
      const destination = parseDestination(flags.destination);
      const replies = await app.control.broadcast(name, {
        arguments: compileArguments(meta, args),
        reply: true,
        timeout,
        ...(destination ? { destination } : {}),
        ...(flags.json ? {} : { callback: (reply) => sayReply(reply, true) }),
      });
      finish(replies.length, flags.json ?? false, shape(replies));
    } finally {
      await held(app.close());
    }
  };
}
