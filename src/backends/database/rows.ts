/**
 * Celery's rows <-> Celeriac's result meta. What Python Celery 5.2's database backend stores (observed with
 * SQLAlchemy 1.4 on PostgreSQL, MariaDB and SQLite):
 *   result     pickle of the value; for FAILURE, RETRY and REVOKED the dict {exc_type, exc_message (a tuple),
 *              exc_module}; for STARTED {pid, hostname}
 *   traceback  the formatted traceback text (None for REVOKED)
 *   date_done  naive UTC, set for ready states only (NULL for STARTED, RETRY, custom states)
 *   args, kwargs (result_extended)  the JSON text of the arguments as bytes (`result_serializer`), not pickles
 * Celery's tables have no column for `children`, `group_id` or `parent_id`, so those are not kept (as in Celery).
 */
import {
  PickleCall,
  PickleGlobal,
  PickleTuple,
  dumpPickle,
  loadPickle,
  loadPickleInert,
} from '../../protocol/pickle/index.js';
import type { InertValue, PickleValue } from '../../protocol/pickle/index.js';
import { pythonJsonDumps } from '../../protocol/pyjson.js';
import { DecodeError } from '../../errors.js';
import { EXCEPTION_STATES, type JsonValue, type ResultMeta, type ResultTuple } from '../../types.js';
import type { GroupMeta } from '../backend.js';

/** `2024-01-02T03:04:05.123456` (Celeriac's date_done) <-> `2024-01-02 03:04:05.123456` (the SQL column). */
export function sqlTime(iso: string | null | undefined): string | null {
  return iso ? iso.replace('T', ' ').replace(/Z$/, '') : null;
}

/** A text column's value (drivers give strings; anything else is shown as JSON rather than "[object Object]"). */
export function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  return JSON.stringify(value) ?? '';
}

function textOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : text(value);
}

export function isoTime(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const time = value instanceof Date ? value.toISOString().replace('Z', '') : text(value);
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?/.exec(time);
  if (!match) return time;
  return `${match[1]}T${match[2]}.${(match[3] ?? '').padEnd(6, '0').slice(0, 6)}`;
}

/**
 * Plain data read from a pickle -> JSON (bytes as text, as Python's json would write them). An integer a double
 * cannot hold stays a BigInt, exact, as the JSON serializer decodes one (protocol/serializers).
 */
export function toJson(value: PickleValue): JsonValue {
  if (typeof value === 'bigint') return value as unknown as JsonValue;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object' && value !== null) {
    const out: { [key: string]: JsonValue } = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: toJson(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

function isExceptionInfo(
  value: JsonValue,
): value is { exc_type: string; exc_message: JsonValue; exc_module: JsonValue } {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && typeof value.exc_type === 'string'
  );
}

/** The `result` column: a failure's `exc_message` is written as a tuple, as Python writes `exc.args`. */
export function encodeResult(status: string, result: JsonValue): Uint8Array {
  if (EXCEPTION_STATES.has(status) && isExceptionInfo(result)) {
    const message = result.exc_message;
    return dumpPickle({
      ...result,
      exc_message: Array.isArray(message) ? new PickleTuple(message) : message,
    });
  }
  return dumpPickle(result);
}

export function decodeColumn(value: unknown, column: string, taskId: string): JsonValue {
  if (value === null || value === undefined) return null;
  try {
    return toJson(loadPickle(value as Uint8Array));
  } catch (error) {
    throw new DecodeError(
      `The ${column} column of task ${taskId} cannot be read: ${(error as Error).message}. Celeriac reads plain ` +
        'data only; have the Python task return JSON-like values (or read this result from Python)',
      { cause: error },
    );
  }
}

function jsonBytes(value: JsonValue | undefined): Buffer | null {
  return value === undefined || value === null ? null : Buffer.from(pythonJsonDumps(value), 'utf8');
}

function parseJsonBytes(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  const json = text(value);
  try {
    return JSON.parse(json.replace(/\bNaN\b|-?\bInfinity\b/g, 'null')) as JsonValue;
  } catch {
    return json;
  }
}

export const EXTENDED_COLUMNS = ['name', 'args', 'kwargs', 'worker', 'retries', 'queue'] as const;

/** Column values for a stored meta (the extended ones only when the meta has them and the table does). */
export function metaToRow(meta: ResultMeta, extended: boolean): Record<string, unknown> {
  const row: Record<string, unknown> = {
    task_id: meta.task_id,
    status: meta.status,
    result: Buffer.from(encodeResult(meta.status, meta.result)),
    date_done: sqlTime(meta.date_done),
    traceback: meta.traceback ?? null,
  };
  if (extended && meta.name !== undefined) {
    row.name = meta.name ?? null;
    row.args = jsonBytes(meta.args);
    row.kwargs = jsonBytes(meta.kwargs);
    row.worker = meta.worker ?? null;
    row.retries = meta.retries ?? null;
    row.queue = meta.queue ?? null;
  }
  return row;
}

export function rowToMeta(row: Record<string, unknown>): ResultMeta {
  const taskId = text(row.task_id);
  const meta: ResultMeta = {
    status: textOrNull(row.status) ?? 'PENDING',
    result: decodeColumn(row.result, 'result', taskId),
    traceback: textOrNull(row.traceback),
    children: [],
    date_done: isoTime(row.date_done),
    task_id: taskId,
  };
  if (row.name !== null && row.name !== undefined) {
    meta.name = text(row.name);
    meta.args = parseJsonBytes(row.args);
    meta.kwargs = parseJsonBytes(row.kwargs);
    meta.worker = textOrNull(row.worker);
    meta.retries = row.retries === null || row.retries === undefined ? null : Number(row.retries);
    meta.queue = textOrNull(row.queue);
  }
  return meta;
}

// Groups: Python's `GroupResult.save()` pickles the GroupResult object itself, which pickle writes as
// `celery.app.base._unpickle_appattr('GroupResult', (id, [_unpickle_appattr('AsyncResult', (id, backend, ...))]))`.
// Celeriac writes the same calls with only ids (the backend argument left out, so Python's AsyncResult uses its
// app's backend), and reads them back without calling anything (inert pickle records).

const APPATTR = new PickleGlobal('celery.app.base', '_unpickle_appattr');

function tupleToCall(tuple: ResultTuple): PickleCall {
  const [[id, parent], children] = tuple as [[string, ResultTuple | null], ResultTuple[] | null];
  if (Array.isArray(children)) {
    return new PickleCall(APPATTR, ['GroupResult', new PickleTuple([id, children.map(tupleToCall)])]);
  }
  const parentCall = parent ? tupleToCall(parent) : null;
  return new PickleCall(APPATTR, ['AsyncResult', new PickleTuple([id, null, null, null, parentCall])]);
}

export function encodeGroup(meta: GroupMeta): Uint8Array {
  return dumpPickle(tupleToCall(meta.result));
}

function bad(what: string): never {
  throw new DecodeError(
    `A saved group holds ${what}, not a celery.result.GroupResult of AsyncResults: Celeriac reads only the ids`,
  );
}

function callToTuple(value: InertValue): ResultTuple {
  if (!(value instanceof PickleCall)) return bad('something else');
  const callee = value.callee;
  if (!(callee instanceof PickleGlobal)) return bad('a nested call');
  const [kind, args] =
    callee.name === '_unpickle_appattr' ? [value.args[0], value.args[1]] : [callee.name, value.args];
  if (!Array.isArray(args) || typeof args[0] !== 'string') return bad(`a ${String(kind)} without an id`);
  const id = args[0];
  if (kind === 'GroupResult') {
    const children = Array.isArray(args[1]) ? (args[1] as InertValue[]) : [];
    return [[id, null], children.map(callToTuple)] as unknown as ResultTuple;
  }
  if (kind === 'AsyncResult') {
    const parent = args[4] instanceof PickleCall ? callToTuple(args[4]) : null;
    return [[id, parent], null] as unknown as ResultTuple;
  }
  return bad(`a ${String(kind)}`);
}

export function decodeGroup(bytes: Uint8Array, groupId: string): GroupMeta {
  let value: InertValue;
  try {
    value = loadPickleInert(bytes);
  } catch (error) {
    throw new DecodeError(`Saved group ${groupId} cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // A group saved as plain data (a result tuple) is read as it is.
  if (Array.isArray(value)) return { result: toJson(value as PickleValue) as unknown as ResultTuple };
  return { result: callToTuple(value) };
}
