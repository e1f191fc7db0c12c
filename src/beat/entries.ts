/**
 * The schedule beat runs: the app's built-in entries, `beatSchedule` (Celery's `beat_schedule`) and the entries of
 * `app.addPeriodicTask`, checked all at once when beat loads them. A mistake anywhere (an unknown task, a bad
 * crontab field, a non-positive interval, an unknown calling option) fails the load with every problem listed,
 * so it is found at start and not at 3 a.m.
 */
import type { Celery } from '../app/celery.js';
import type { CatchUp, PeriodicTaskEntry } from '../app/periodic.js';
import type { CallOptions } from '../app/task.js';
import { didYouMean, ImproperlyConfigured } from '../errors.js';
import type { JsonValue } from '../types.js';
import { crontab } from './schedules/crontab.js';
import { Interval } from './schedules/interval.js';
import { isSchedule, type Schedule } from './schedules/schedule.js';

export interface ScheduleEntry {
  readonly name: string;
  readonly task: string;
  /** Bound to the app's time zone (unless it names its own). */
  readonly schedule: Schedule;
  readonly args: readonly JsonValue[];
  readonly kwargs: Readonly<Record<string, JsonValue>>;
  readonly options: CallOptions;
  readonly catchUp: CatchUp;
  readonly catchUpLimit: number;
  readonly catchUpGrace: number;
  /** What the entry does (task, schedule, arguments, options): a change resets its stored state. */
  readonly definition: string;
}

/** Calling options an entry may carry, by their camelCase name (Celery's snake_case names are mapped). */
const CALL_OPTIONS: ReadonlySet<string> = new Set([
  'taskId',
  'countdown',
  'eta',
  'expires',
  'priority',
  'queue',
  'exchange',
  'exchangeType',
  'routingKey',
  'headers',
  'timeLimit',
  'softTimeLimit',
  'serializer',
  'compression',
  'ignoreResult',
  'shadow',
  'link',
  'linkError',
  'retry',
  'retryPolicy',
  'deliveryMode',
]);

const ENTRY_KEYS: ReadonlySet<string> = new Set([
  'task',
  'schedule',
  'args',
  'kwargs',
  'options',
  'relative',
  'catchUp',
  'catchUpLimit',
  'catchUpGrace',
  'external',
]);

const camel = (key: string): string => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function callOptions(raw: unknown): CallOptions {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new Error('options must be an object of calling options, such as { queue: "periodic" }');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const name = camel(key);
    if (!CALL_OPTIONS.has(name))
      throw new Error(`unknown calling option "${key}"${didYouMean(name, [...CALL_OPTIONS])}`);
    if (value !== undefined && value !== null) out[name] = value;
  }
  if (out.expires !== undefined && typeof out.expires !== 'number' && !(out.expires instanceof Date))
    throw new Error('options.expires must be a number of seconds or a Date');
  return out;
}

function toSchedule(entry: PeriodicTaskEntry, zone: string): Schedule {
  const { schedule } = entry;
  if (typeof schedule === 'number') {
    return new Interval({ every: schedule, relative: entry.relative ?? false }).inTimeZone(zone);
  }
  if (isSchedule(schedule)) return schedule.inTimeZone(zone);
  throw new Error(
    `schedule must be a number of seconds, crontab(), solar() or interval(), got ${JSON.stringify(schedule)}`,
  );
}

function catchUpOf(
  entry: PeriodicTaskEntry,
): Pick<ScheduleEntry, 'catchUp' | 'catchUpLimit' | 'catchUpGrace'> {
  const catchUp = entry.catchUp ?? 'once';
  if (!['once', 'skip', 'all'].includes(catchUp))
    throw new Error(`catchUp must be "once", "skip" or "all", got ${JSON.stringify(catchUp)}`);
  const limit = entry.catchUpLimit ?? 100;
  if (!Number.isInteger(limit) || limit < 1)
    throw new Error(`catchUpLimit must be a positive integer, got ${JSON.stringify(limit)}`);
  const grace = entry.catchUpGrace ?? 1;
  if (typeof grace !== 'number' || !(grace >= 0))
    throw new Error(`catchUpGrace must be a non-negative number of seconds, got ${JSON.stringify(grace)}`);
  return { catchUp, catchUpLimit: limit, catchUpGrace: grace };
}

function checkTask(app: Celery, entry: PeriodicTaskEntry): string {
  const task: unknown = entry.task;
  if (typeof task !== 'string' || task === '')
    throw new Error('task must be a task name such as "tasks.add"');
  if (entry.external || task.startsWith('celery.')) return task;
  const own = [...app.tasks.keys()].filter((name) => !name.startsWith('celery.'));
  // An app that registers no tasks only sends by name (a beat for Python workers): nothing to check against.
  if (own.length > 0 && !app.tasks.has(task)) {
    throw new Error(
      `task "${task}" is not registered in app ${app.main}${didYouMean(task, own)}; ` +
        'for a task this app does not define (a Python one), add external: true to the entry',
    );
  }
  return task;
}

/** Checks one entry; throws a plain Error whose message the caller prefixes with the entry's name. */
export function compileEntry(app: Celery, name: string, entry: PeriodicTaskEntry): ScheduleEntry {
  if (typeof entry !== 'object' || entry === null)
    throw new Error('an entry must be { task, schedule, ... }');
  const unknown = Object.keys(entry).filter((key) => !ENTRY_KEYS.has(key));
  if (unknown.length > 0) {
    throw new Error(
      `unknown field "${unknown[0]}"${didYouMean(unknown[0]!, [...ENTRY_KEYS])}: an entry has ${[...ENTRY_KEYS].join(', ')}`,
    );
  }
  const task = checkTask(app, entry);
  const schedule = toSchedule(entry, app.timezone);
  const args = entry.args ?? [];
  if (!Array.isArray(args)) throw new Error('args must be an array (Celery: a tuple)');
  const kwargs = entry.kwargs ?? {};
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs))
    throw new Error('kwargs must be an object');
  const options = callOptions(entry.options);
  const sorted = Object.fromEntries(Object.entries(options).sort(([a], [b]) => a.localeCompare(b)));
  return {
    name,
    task,
    schedule,
    args,
    kwargs,
    options,
    ...catchUpOf(entry),
    definition: JSON.stringify([task, schedule.definition(), args, kwargs, sorted]),
  };
}

/**
 * The app's own entries, as Celery's `install_default_entries`: `celery.backend_cleanup` daily at 04:00 (expiring
 * after 12 hours) when results expire (`resultExpires`), the backend does not expire them by itself, and the
 * task is registered.
 */
export function defaultEntries(
  app: Celery,
  resultsExpireByThemselves: boolean,
): Record<string, PeriodicTaskEntry> {
  if (app.conf.resultExpires === null || resultsExpireByThemselves) return {};
  if (!app.tasks.has('celery.backend_cleanup')) return {};
  return {
    'celery.backend_cleanup': {
      task: 'celery.backend_cleanup',
      schedule: crontab({ minute: 0, hour: 4 }),
      options: { expires: 12 * 3600 },
    },
  };
}

/**
 * Every entry beat runs: the defaults, then `beatSchedule`, then `addPeriodicTask` (a later one replaces an
 * earlier one of the same name). Throws ImproperlyConfigured listing every problem.
 */
export function loadEntries(
  app: Celery,
  defaults: Readonly<Record<string, PeriodicTaskEntry>> = {},
): ScheduleEntry[] {
  const all = new Map<string, PeriodicTaskEntry>(Object.entries(defaults));
  for (const [name, entry] of Object.entries(app.conf.beatSchedule)) all.set(name, entry);
  for (const [name, entry] of app.periodicTasks) all.set(name, entry);
  const problems: string[] = [];
  const entries: ScheduleEntry[] = [];
  for (const [name, entry] of all) {
    try {
      entries.push(compileEntry(app, name, entry));
    } catch (error) {
      problems.push(`beat entry "${name}": ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) {
    throw new ImproperlyConfigured(
      `Invalid beat schedule (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${problems.join('\n  ')}`,
    );
  }
  return entries;
}
