/**
 * The remote-control commands a worker answers, with Celery's names, arguments and reply shapes
 * (`celery/worker/control.py`, reference §1.5 and §2.9). Each entry has the metadata Celery's `Panel.meta` has (the
 * CLI turns positional arguments into keyword arguments with it) and a handler that speaks only to a
 * `ControlTarget`. Control commands reply `{"ok": ...}` or `{"error": ...}`; inspect commands reply with data.
 */
import { maskUrl } from '../lifecycle/url.js';
import { SETTINGS, type AnySetting } from '../app/settings.js';
import type { JsonObject, JsonValue } from '../types.js';
import type { Arguments } from './arguments.js';
import type { ControlTarget, RevokeEntry } from './target.js';

export type CommandType = 'inspect' | 'control';
/** How the CLI converts a positional argument (Celery's `args=[(name, type)]`). */
export type ArgumentType = 'str' | 'int' | 'float';

export interface CommandMeta {
  readonly name: string;
  readonly type: CommandType;
  /** Positional arguments, in order. */
  readonly args: readonly (readonly [string, ArgumentType])[];
  /** The keyword argument that takes the remaining positional arguments as a list. */
  readonly variadic?: string;
  /** Usage, as Celery's `signature`. */
  readonly signature: string;
  /** Listed by the CLI (`hello` is not, as in Celery). */
  readonly visible: boolean;
  readonly help: string;
}

/** What a handler gets besides its arguments. */
export interface CommandContext {
  readonly target: ControlTarget;
  /** The mailbox's Lamport clock now, and ticking. */
  readonly clock: { readonly value: number; forward(): number };
}

/** Returns the reply; undefined sends `null` (Celery's handlers that return nothing). */
export type CommandHandler = (
  context: CommandContext,
  args: Arguments,
) => JsonValue | undefined | Promise<JsonValue | undefined>;

export interface Command extends CommandMeta {
  readonly handler: CommandHandler;
}

const ok = (value: JsonValue): JsonObject => ({ ok: value });
const nok = (value: JsonValue): JsonObject => ({ error: value });

function command(
  name: string,
  type: CommandType,
  help: string,
  handler: CommandHandler,
  meta: Partial<Pick<CommandMeta, 'args' | 'variadic' | 'signature' | 'visible'>> = {},
): Command {
  return {
    name,
    type,
    help,
    handler,
    args: meta.args ?? [],
    signature: meta.signature ?? '',
    visible: meta.visible ?? true,
    ...(meta.variadic === undefined ? {} : { variadic: meta.variadic }),
  };
}

/** Celery's `DEFAULT_TASK_INFO_ITEMS`: what `registered` shows of each task when set. */
const TASK_INFO_ITEMS = ['exchange', 'routing_key', 'rate_limit'];

function registered(target: ControlTarget, args: Arguments): string[] {
  const items = args.stringList('taskinfoitems');
  const builtins = args.boolean('builtins', false);
  return target.registered(builtins).map((name) => {
    const fields = (items.length > 0 ? items : TASK_INFO_ITEMS)
      .map((item) => [item, target.taskAttribute(name, item)] as const)
      .filter((pair): pair is readonly [string, string] => pair[1] !== undefined);
    return fields.length > 0 ? `${name} [${fields.map(([k, v]) => `${k}=${v}`).join(' ')}]` : name;
  });
}

/** `conf`: the settings that differ from their defaults, by Celery's names (passwords masked), as Celery's. */
function conf(target: ControlTarget, args: Arguments): JsonObject {
  const withDefaults = args.boolean('with_defaults', false);
  const out: JsonObject = {};
  const settings = target.app.conf as unknown as Record<string, unknown>;
  for (const [name, row] of Object.entries(SETTINGS) as [string, AnySetting][]) {
    const value = settings[name];
    const fallback = 'default' in row ? row.default : settings[row.sameAs];
    if (!withDefaults && JSON.stringify(value) === JSON.stringify(fallback)) continue;
    out[row.celery] = jsonSafe(typeof value === 'string' && value.includes('://') ? maskUrl(value) : value);
  }
  return out;
}

/** Values as JSON (functions and other non-data as their type name), so one odd setting never breaks a reply. */
function jsonSafe(value: unknown): JsonValue {
  try {
    const text = JSON.stringify(value, (_key, v: unknown) =>
      typeof v === 'function' ? `<function ${(v as { name?: string }).name ?? ''}>` : v,
    );
    return text === undefined ? null : (JSON.parse(text) as JsonValue);
  } catch {
    return String(value);
  }
}

function report(target: ControlTarget): string {
  const conf = target.app.conf;
  return [
    '',
    `software -> celeriac node:${process.versions.node}`,
    `platform -> system:${process.platform} arch:${process.arch} pid:${process.pid}`,
    `settings -> transport:${maskUrl(String(conf.broker))} results:${maskUrl(String(conf.backend ?? 'disabled'))}`,
    '',
  ].join('\n');
}

async function revoke(target: ControlTarget, args: Arguments, terminate: boolean): Promise<JsonObject> {
  const ids = args.stringList('task_id');
  const signal = args.optionalString('signal') ?? 'SIGTERM';
  const terminated = await target.revoke(ids, terminate, signal);
  if (terminate) {
    return ok(terminated.length === 0 ? 'terminate: tasks unknown' : `terminate: ${terminated.join(', ')}`);
  }
  return ok(`tasks ${ids.join(', ')} flagged as revoked`);
}

/** mingle's `hello`: merge the caller's revokes, answer with ours (Celery's raw `LimitedSet._data`) and the clock. */
function hello(context: CommandContext, args: Arguments): JsonValue | undefined {
  const { target, clock } = context;
  const from = args.string('from_node');
  if (from === target.hostname) return undefined;
  const theirs = args.values.revoked;
  if (theirs && typeof theirs === 'object' && !Array.isArray(theirs)) {
    target.mergeRevoked(revokedFromWire(theirs));
  }
  const revoked: JsonObject = {};
  // Celery sends `[monotonic time, id]` per id; monotonic clocks do not travel between hosts, so any time works
  // for a Python peer (it only orders by it), and Celeriac peers read wall-clock seconds here.
  for (const [id, at] of target.revokedEntries()) revoked[id] = [at / 1000, id];
  return { revoked, clock: clock.forward() };
}

/** Reads `{id: [ts, id]}` (Celery's LimitedSet data, or a list of ids) into entries; untrusted times become now. */
export function revokedFromWire(value: JsonValue): RevokeEntry[] {
  const now = Date.now();
  if (Array.isArray(value)) return value.filter((id) => typeof id === 'string').map((id) => [id, now]);
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).map(([id, entry]) => {
    const ts = Array.isArray(entry) && typeof entry[0] === 'number' ? entry[0] * 1000 : now;
    // A Python peer sends monotonic seconds (time since its boot), which are not wall-clock times: take now.
    const wallClock = ts > Date.UTC(2000, 0, 1) && ts <= now ? ts : now;
    return [id, wallClock] as const;
  });
}

function rateLimit(target: ControlTarget, args: Arguments): JsonObject {
  const task = args.string('task_name');
  const raw = args.values.rate_limit;
  const rate = raw === undefined || raw === null || raw === '' || raw === 0 || raw === '0' ? null : raw;
  if (rate !== null && typeof rate !== 'string' && typeof rate !== 'number') {
    return nok(`Invalid rate limit string: ${JSON.stringify(raw)}`);
  }
  if (!target.registered(true).includes(task)) return nok('unknown task');
  try {
    target.setRateLimit(task, rate);
  } catch (error) {
    return nok(`Invalid rate limit string: ${(error as Error).message}`);
  }
  return ok(rate === null ? 'rate limit disabled successfully' : 'new rate limit set successfully');
}

function timeLimit(target: ControlTarget, args: Arguments): JsonObject {
  const task = args.string('task_name');
  const soft = args.optionalNumber('soft', { min: 0 });
  const hard = args.optionalNumber('hard', { min: 0 });
  if (!target.registered(true).includes(task)) return nok('unknown task');
  target.setTimeLimit(task, soft, hard);
  return ok('time limits set successfully');
}

function poolResize(target: ControlTarget, args: Arguments, grow: boolean): JsonObject {
  const n = args.optionalNumber('n', { integer: true, min: 1 }) ?? 1;
  const what = grow ? 'pool_grow' : 'pool_shrink';
  if (target.autoscaling)
    return nok(`${what} is not supported with autoscale. Adjust autoscale range instead.`);
  if (grow) target.poolGrow(n);
  else target.poolShrink(n);
  return ok(grow ? 'pool will grow' : 'pool will shrink');
}

const COMMANDS: readonly Command[] = [
  // -- inspect
  command('ping', 'inspect', 'Ping worker(s).', () => ok('pong')),
  command('stats', 'inspect', 'Request worker statistics/information.', ({ target }) => target.stats()),
  command('active', 'inspect', 'List of tasks currently being executed.', ({ target }, args) =>
    target.active(args.boolean('safe', false)),
  ),
  command('scheduled', 'inspect', 'List of currently scheduled ETA/countdown tasks.', ({ target }) =>
    target.scheduled(),
  ),
  command(
    'reserved',
    'inspect',
    'List of currently reserved tasks, not including scheduled/active.',
    ({ target }) => target.reserved(),
  ),
  command('revoked', 'inspect', 'List of revoked task-ids.', ({ target }) => target.revoked()),
  command(
    'registered',
    'inspect',
    'List of registered tasks.',
    ({ target }, args) => registered(target, args),
    {
      variadic: 'taskinfoitems',
      signature: '[attr1 [attr2 [... [attrN]]]]',
    },
  ),
  command(
    'query_task',
    'inspect',
    'Query for task information by id.',
    ({ target }, args) => target.queryTask(args.stringList('ids')),
    { variadic: 'ids', signature: '[id1 [id2 [... [idN]]]]' },
  ),
  command(
    'active_queues',
    'inspect',
    'List the task queues a worker is currently consuming from.',
    ({ target }) => target.activeQueues(),
  ),
  command('conf', 'inspect', 'List configuration.', ({ target }, args) => conf(target, args), {
    args: [['with_defaults', 'str']],
    signature: '[include_defaults=False]',
  }),
  command('report', 'inspect', 'Information about Celeriac and the platform.', ({ target }) =>
    ok(report(target)),
  ),
  command('clock', 'inspect', 'Get current logical clock value.', ({ clock }) => ({ clock: clock.value })),
  command('hello', 'inspect', 'Request mingle sync-data.', hello, {
    args: [['from_node', 'str']],
    visible: false,
  }),
  // -- control
  command(
    'revoke',
    'control',
    'Revoke task by task id (or list of ids).',
    ({ target }, args) => revoke(target, args, args.boolean('terminate', false)),
    { variadic: 'task_id', signature: '[id1 [id2 [... [idN]]]]' },
  ),
  command(
    'terminate',
    'control',
    'Terminate task by task id (or list of ids).',
    ({ target }, args) => revoke(target, args, true),
    { args: [['signal', 'str']], variadic: 'task_id', signature: '<signal> [id1 [id2 [... [idN]]]]' },
  ),
  command(
    'rate_limit',
    'control',
    'Tell worker(s) to modify the rate limit for a task by type.',
    ({ target }, args) => rateLimit(target, args),
    {
      args: [
        ['task_name', 'str'],
        ['rate_limit', 'str'],
      ],
      signature: '<task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>',
    },
  ),
  command(
    'time_limit',
    'control',
    'Tell worker(s) to modify the time limit for task by type.',
    ({ target }, args) => timeLimit(target, args),
    {
      args: [
        ['task_name', 'str'],
        ['soft', 'float'],
        ['hard', 'float'],
      ],
      signature: '<task_name> <soft_secs> [hard_secs]',
    },
  ),
  command('enable_events', 'control', 'Tell worker(s) to send task-related events.', ({ target }) =>
    ok(target.setTaskEvents(true) ? 'task events enabled' : 'task events already enabled'),
  ),
  command('disable_events', 'control', 'Tell worker(s) to stop sending task-related events.', ({ target }) =>
    ok(target.setTaskEvents(false) ? 'task events disabled' : 'task events already disabled'),
  ),
  command('heartbeat', 'control', 'Tell worker(s) to send event heartbeat immediately.', ({ target }) => {
    target.heartbeatNow();
    return undefined;
  }),
  command(
    'pool_grow',
    'control',
    'Grow pool by n processes/threads.',
    ({ target }, args) => poolResize(target, args, true),
    { args: [['n', 'int']], signature: '[N=1]' },
  ),
  command(
    'pool_shrink',
    'control',
    'Shrink pool by n processes/threads.',
    ({ target }, args) => poolResize(target, args, false),
    { args: [['n', 'int']], signature: '[N=1]' },
  ),
  command('pool_restart', 'control', 'Restart execution pool.', () =>
    nok('Pool restarts not enabled: Celeriac does not reload task modules in a running worker; restart it'),
  ),
  command(
    'autoscale',
    'control',
    'Modify autoscale settings.',
    ({ target }, args) => {
      if (!target.autoscaling) return nok('Autoscale not enabled');
      const max = args.optionalNumber('max', { integer: true, min: 1 });
      const min = args.optionalNumber('min', { integer: true, min: 0 });
      const [newMax, newMin] = target.setAutoscale(max, min);
      return ok(`autoscale now max=${newMax} min=${newMin}`);
    },
    {
      args: [
        ['max', 'int'],
        ['min', 'int'],
      ],
      signature: '[max [min]]',
    },
  ),
  command('shutdown', 'control', 'Shutdown worker(s).', ({ target }) => {
    target.shutdown();
    return ok('shutting down');
  }),
  command(
    'add_consumer',
    'control',
    'Tell worker(s) to consume from task queue by name.',
    async ({ target }, args) => {
      const queue = args.string('queue');
      await target.addConsumer(
        queue,
        args.optionalString('exchange'),
        args.optionalString('exchange_type'),
        args.optionalString('routing_key'),
      );
      return ok(`add consumer ${queue}`);
    },
    {
      args: [
        ['queue', 'str'],
        ['exchange', 'str'],
        ['exchange_type', 'str'],
        ['routing_key', 'str'],
      ],
      signature: '<queue> [exchange [type [routing_key]]]',
    },
  ),
  command(
    'cancel_consumer',
    'control',
    'Tell worker(s) to stop consuming from task queue by name.',
    async ({ target }, args) => {
      const queue = args.string('queue');
      await target.cancelConsumer(queue);
      return ok(`no longer consuming from ${queue}`);
    },
    { args: [['queue', 'str']], signature: '<queue>' },
  ),
];

/** The built-in commands by name. */
export const BUILTIN_COMMANDS: ReadonlyMap<string, Command> = new Map(COMMANDS.map((c) => [c.name, c]));

/** Celery's aliases (`dump_tasks`, ...), accepted from old clients. */
export const COMMAND_ALIASES: Readonly<Record<string, string>> = {
  dump_schedule: 'scheduled',
  dump_reserved: 'reserved',
  dump_active: 'active',
  dump_revoked: 'revoked',
  dump_tasks: 'registered',
  dump_conf: 'conf',
};

/** The metadata of every built-in command (for the CLI and for users' tools). */
export function builtinCommandMeta(): CommandMeta[] {
  return COMMANDS.map(({ handler: _handler, ...meta }) => meta);
}
