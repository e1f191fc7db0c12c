/**
 * Flower 1.2's JSON shapes and query parameters, so that scripts written against Flower's HTTP API keep working:
 * a task is Celery's `Task.as_dict()` with the worker as its hostname (flower/api/tasks.py), and `/api/tasks`
 * takes Flower's filters (flower/utils/tasks.py `iter_tasks`).
 */
import type { CallOptions, JsonValue, TaskQuery, TaskSnapshot, TaskSortKey } from '../index.js';

/** `Task.as_dict()` of Celery 5.2 (`Task._fields`), as Flower writes it. */
export function flowerTask(task: TaskSnapshot): Record<string, JsonValue> {
  return {
    uuid: task.uuid,
    name: task.name,
    state: task.state,
    received: task.received,
    sent: task.sent,
    started: task.started,
    rejected: task.rejected,
    succeeded: task.succeeded,
    failed: task.failed,
    retried: task.retried,
    revoked: task.revoked,
    args: task.args,
    kwargs: task.kwargs,
    eta: task.eta,
    expires: task.expires,
    retries: task.retries,
    worker: task.worker,
    result: task.result,
    exception: task.exception,
    timestamp: task.timestamp,
    runtime: task.runtime,
    traceback: task.traceback,
    exchange: task.exchange,
    routing_key: task.routingKey,
    clock: task.clock,
    client: task.client,
    root: task.rootId,
    root_id: task.rootId,
    parent: task.parentId,
    parent_id: task.parentId,
    children: [...task.childIds],
  };
}

/** The dashboard's own view: Flower's fields plus the queue, custom fields and the timeline. */
export function taskDetail(task: TaskSnapshot): Record<string, JsonValue> {
  return {
    ...flowerTask(task),
    queue: task.queue,
    ready: task.ready,
    extra: { ...task.extra },
    history: task.history.map((entry) => ({ ...entry })),
  };
}

/** Flower's `sort_by` keys (`-` in front for descending). */
const FLOWER_SORT: Readonly<Record<string, TaskSortKey>> = {
  name: 'name',
  state: 'state',
  received: 'received',
  started: 'started',
};

export class BadRequest extends Error {
  readonly status = 400;
}

/**
 * `/api/tasks` query parameters to a TaskQuery: `limit`, `offset`, `sort_by`, `workername`, `taskname`, `state`
 * (`All` means no filter, as Flower's page sends it), `received_start` / `received_end` (`%Y-%m-%d %H:%M`, local
 * time as Flower reads them) and `search` (text in args, kwargs, result, name or id).
 */
export function flowerTaskQuery(params: URLSearchParams): TaskQuery & { limit?: number } {
  const query: { -readonly [K in keyof TaskQuery]: TaskQuery[K] } = {};
  const value = (name: string): string | undefined => {
    const v = params.get(name);
    return v === null || v === '' || v === 'All' ? undefined : v;
  };
  const limit = value('limit');
  if (limit !== undefined) query.limit = integer('limit', limit);
  const offset = value('offset');
  query.offset = Math.max(0, offset === undefined ? 0 : integer('offset', offset));
  const worker = value('workername');
  if (worker !== undefined) query.worker = worker;
  const name = value('taskname');
  if (name !== undefined) query.name = name;
  const state = value('state');
  if (state !== undefined) query.state = state;
  const sortBy = value('sort_by');
  if (sortBy !== undefined) {
    const key = FLOWER_SORT[sortBy.replace(/^-/, '')];
    if (key === undefined)
      throw new BadRequest(
        `sort_by must be one of name, state, received, started (- in front for descending), got "${sortBy}"`,
      );
    query.sortBy = key;
    query.order = sortBy.startsWith('-') ? 'desc' : 'asc';
  }
  const start = value('received_start');
  const end = value('received_end');
  if (start !== undefined || end !== undefined) {
    query.timeField = 'received';
    if (start !== undefined) query.since = flowerTime('received_start', start);
    // Flower's end is inclusive; TaskQuery's `until` is exclusive: a microsecond later covers the same tasks.
    if (end !== undefined) query.until = flowerTime('received_end', end) + 1e-6;
  }
  const search = value('search');
  if (search !== undefined) {
    query.search = search;
    query.searchIn = ['args', 'kwargs', 'result', 'name', 'uuid'];
  }
  return query;
}

function integer(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new BadRequest(`${name} must be a non-negative integer, got "${text}"`);
  return n;
}

/** `%Y-%m-%d %H:%M` in local time (Flower's `time.mktime(strptime(...))`) to seconds since the epoch. */
export function flowerTime(name: string, text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (m === null) throw new BadRequest(`${name} must be "YYYY-MM-DD HH:MM", got "${text}"`);
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, Number.isNaN(s) ? 0 : s).getTime() / 1000;
}

/** Flower's `options` for apply/send-task (Celery's `apply_async` keywords), as Celeriac's call options. */
export function flowerCallOptions(options: Record<string, JsonValue>): CallOptions {
  const out: CallOptions = {};
  const text = (key: string, value: JsonValue): string => {
    if (typeof value !== 'string') throw new BadRequest(`option ${key} must be a string`);
    return value;
  };
  const number = (key: string, value: JsonValue): number => {
    const n = Number(value);
    if (value === null || value === '' || !Number.isFinite(n))
      throw new BadRequest(`option ${key} must be a number`);
    return n;
  };
  for (const [key, value] of Object.entries(options)) {
    switch (key) {
      case 'countdown':
        out.countdown = number(key, value);
        break;
      case 'eta':
        out.eta = flowerDate(key, value);
        break;
      case 'expires':
        out.expires =
          typeof value === 'string' && Number.isNaN(Number(value))
            ? flowerDate(key, value)
            : number(key, value);
        break;
      case 'priority':
        out.priority = number(key, value);
        break;
      case 'queue':
        out.queue = text(key, value);
        break;
      case 'exchange':
        out.exchange = text(key, value);
        break;
      case 'routing_key':
        out.routingKey = text(key, value);
        break;
      case 'task_id':
        out.taskId = text(key, value);
        break;
      case 'time_limit':
        out.timeLimit = number(key, value);
        break;
      case 'soft_time_limit':
        out.softTimeLimit = number(key, value);
        break;
      case 'shadow':
        out.shadow = text(key, value);
        break;
      case 'ignore_result':
        out.ignoreResult = value === true;
        break;
      case 'headers':
        if (value === null || typeof value !== 'object' || Array.isArray(value))
          throw new BadRequest('option headers must be an object');
        out.headers = value;
        break;
      default:
        throw new BadRequest(
          `unknown option "${key}" (known: countdown, eta, expires, priority, queue, exchange, routing_key, task_id, ` +
            'time_limit, soft_time_limit, shadow, ignore_result, headers)',
        );
    }
  }
  return out;
}

/** Flower's DATE_FORMAT `%Y-%m-%d %H:%M:%S.%f` (local time, as Python's naive datetime) or ISO 8601. */
function flowerDate(key: string, value: JsonValue): Date {
  if (typeof value !== 'string') throw new BadRequest(`option ${key} must be a date string`);
  const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : value.replace(' ', 'T'));
  if (Number.isNaN(date.getTime()))
    throw new BadRequest(`option ${key} must be "YYYY-MM-DD HH:MM:SS.ffffff", got "${value}"`);
  return date;
}
