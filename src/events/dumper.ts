/**
 * The one line per event that `celery events --dump` prints (celery/events/dumper.py `Dumper.on_event`), so that
 * `celeriac events --dump` prints the same text and scripts that read one read the other:
 *
 *   w1@host [2026-12-06 18:39:19.900987] started: active=0, clock=1, freq=2.0, loadavg=[8.07, 3.73, 1.71], ...
 *   w1@host [2026-12-06 18:39:20.008145] task received: proj.add(<uuid>) args=(2, 2) kwargs={} clock=2, eta=None, ...
 *
 * Pure: it formats events a receiver prepared (see `prepareEvent`; `local_received` and the receiver's clock are
 * among the printed fields, as in Celery). Values print as Python's `str()` would print them. JSON does not keep
 * `2.0` apart from `2`, so the fields Celery sends as floats (`freq` from a worker's heartbeat thread, `loadavg`,
 * `runtime`, `local_received`) are printed as Python floats; other whole numbers print as integers.
 */
import { pyFloat } from '../protocol/pyrepr.js';
import type { JsonValue } from '../types.js';

/** The line `celery events --dump` starts with. */
export const DUMP_GREETING = '-> evdump: starting capture...';

/** `HUMAN_TYPES`: worker events get words; other types are lower-cased with dashes as spaces. */
const HUMAN_TYPES: Readonly<Record<string, string>> = {
  'worker-offline': 'shutdown',
  'worker-online': 'started',
  'worker-heartbeat': 'heartbeat',
};

/** `TASK_NAMES = LRUCache(limit=0xFFF)`: how many task descriptions the dumper remembers. */
const TASK_NAMES_LIMIT = 0xfff;

export function humanizeType(type: string): string {
  const lower = type.toLowerCase();
  return HUMAN_TYPES[lower] ?? lower.replace(/-/g, ' ');
}

/**
 * Formats events as `Dumper.on_event` prints them. Stateful as Celery's is: task-received and task-sent lines
 * name the task (`name(uuid) args=... kwargs=...`) and later events of the same task repeat that description.
 */
export class EventDumper {
  private readonly taskNames = new Map<string, string>();

  /** The line for one event, without the newline. */
  format(event: Readonly<Record<string, JsonValue>>): string {
    const fields: Record<string, JsonValue> = { ...event };
    const timestamp = take(fields, 'timestamp');
    const type = pyStr(take(fields, 'type') ?? '').toLowerCase();
    const hostname = pyStr(take(fields, 'hostname') ?? null);
    const when = typeof timestamp === 'number' ? formatUtcTimestamp(timestamp) : pyStr(timestamp ?? null);
    const head = `${hostname} [${when}] ${humanizeType(type)}`;
    if (!type.startsWith('task-')) return `${head}${sepFor(fields)} ${joinFields(fields)}`;
    const uuid = pyStr(take(fields, 'uuid') ?? null);
    const task = this.describeTask(type, uuid, fields);
    return `${head}${sepFor(fields)} ${task} ${joinFields(fields)}`;
  }

  private describeTask(type: string, uuid: string, fields: Record<string, JsonValue>): string {
    if (type === 'task-received' || type === 'task-sent') {
      const name = pyStr(take(fields, 'name') ?? null);
      const args = pyStr(take(fields, 'args') ?? null);
      const kwargs = pyStr(take(fields, 'kwargs') ?? null);
      const description = `${name}(${uuid}) args=${args} kwargs=${kwargs}`;
      this.remember(uuid, description);
      return description;
    }
    const known = this.taskNames.get(uuid);
    if (known === undefined) return '';
    this.remember(uuid, known);
    return known;
  }

  /** LRU: a read or write makes the entry the newest; the oldest goes when full. */
  private remember(uuid: string, description: string): void {
    this.taskNames.delete(uuid);
    if (this.taskNames.size >= TASK_NAMES_LIMIT) {
      const oldest = this.taskNames.keys().next().value;
      if (oldest !== undefined) this.taskNames.delete(oldest);
    }
    this.taskNames.set(uuid, description);
  }
}

function take(fields: Record<string, JsonValue>, key: string): JsonValue | undefined {
  const value = fields[key];
  delete fields[key];
  return value;
}

function sepFor(fields: Record<string, JsonValue>): string {
  return Object.keys(fields).length > 0 ? ':' : '';
}

/** `', '.join(f'{key}={event[key]}' for key in sorted(event))`. */
function joinFields(fields: Record<string, JsonValue>): string {
  return Object.keys(fields)
    .sort()
    .map((key) => `${key}=${fieldStr(key, fields[key] as JsonValue, fields)}`)
    .join(', ');
}

/** `str(value)` for one field, floats where Celery sends floats (see the module comment). */
function fieldStr(key: string, value: JsonValue, fields: Record<string, JsonValue>): string {
  const sentAsFloat =
    key === 'runtime' ||
    key === 'local_received' ||
    // The heartbeat thread sends `freq` as a float with `active`; the `heartbeat` control command sends `freq=5`.
    (key === 'freq' && 'active' in fields);
  if (typeof value === 'number' && sentAsFloat) return pyFloat(value);
  if (key === 'loadavg' && Array.isArray(value)) {
    return `[${value.map((v) => (typeof v === 'number' ? pyFloat(v) : pyRepr(v))).join(', ')}]`;
  }
  return pyStr(value);
}

/** Python's `str()` of a JSON value: strings as they are, containers with `repr()` of their items. */
export function pyStr(value: JsonValue): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

/** Python's `repr()` of a JSON value (whole numbers as ints, other numbers as floats). */
export function pyRepr(value: JsonValue): string {
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : pyFloat(value);
  if (typeof value === 'string') return pyStringRepr(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  const entries = Object.entries(value).map(([k, v]) => `${pyStringRepr(k)}: ${pyRepr(v)}`);
  return `{${entries.join(', ')}}`;
}

const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** `repr(str)`: single quotes unless the text has one and no double quote; escapes as Python writes them. */
function pyStringRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = '';
  for (const char of text) {
    if (char === '\\' || char === quote) out += `\\${char}`;
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (char !== ' ' && NOT_PRINTABLE.test(char)) out += escapeCodePoint(char.codePointAt(0) ?? 0);
    else out += char;
  }
  return `${quote}${out}${quote}`;
}

function escapeCodePoint(code: number): string {
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\U${code.toString(16).padStart(8, '0')}`;
}

/**
 * `str(datetime.utcfromtimestamp(seconds))`: `YYYY-MM-DD HH:MM:SS` plus `.ffffff` unless the microseconds are
 * 0. Microseconds are rounded half to even from the fraction, as CPython does (`_PyTime_ROUND_HALF_EVEN`).
 */
export function formatUtcTimestamp(seconds: number): string {
  let whole = Math.trunc(seconds);
  let micros = roundHalfEven((seconds - whole) * 1e6);
  if (micros >= 1e6) {
    whole += 1;
    micros -= 1e6;
  } else if (micros < 0) {
    whole -= 1;
    micros += 1e6;
  }
  const date = new Date(whole * 1000);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const day = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  return micros === 0 ? `${day} ${time}` : `${day} ${time}.${pad(micros, 6)}`;
}

function roundHalfEven(x: number): number {
  const rounded = Math.round(x);
  // Math.round sends halves up; CPython sends them to the even neighbour.
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : rounded;
}
