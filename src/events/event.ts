/**
 * Celery's event message (reference §2.8, `celery/events/event.py` and `celery/events/dispatcher.py`): a JSON
 * object with the event's fields plus `hostname`, `utcoffset`, `pid`, `clock`, `timestamp` and `type`, published
 * to the `celeryev` exchange with the type as routing key (`task-succeeded` -> `task.succeeded`). Pure.
 */
import type { WireMessage } from '../protocol/message.js';
import type { JsonValue } from '../types.js';

/** The exchange events go to (`event_exchange`): topic on AMQP, fanout on Redis (`get_exchange`). */
export const EVENT_EXCHANGE = 'celeryev';

export type EventFields = Readonly<Record<string, JsonValue>>;

/** An event as receivers see it. */
export interface CeleryEvent {
  readonly type: string;
  readonly hostname: string;
  readonly utcoffset: number;
  readonly pid: number;
  readonly clock: number | null;
  readonly timestamp: number;
  readonly [field: string]: JsonValue;
}

/**
 * The offset to UTC in hours as Celery computes it (`celery/utils/time.py utcoffset`: `time.timezone // 3600`):
 * positive west of Greenwich, so 0 in UTC and -1 in Paris in winter.
 */
export function utcoffset(date: Date = new Date()): number {
  return Math.floor((date.getTimezoneOffset() * 60) / 3600);
}

/** `task-succeeded` -> `task.succeeded`. */
export function eventRoutingKey(type: string): string {
  return type.replace(/-/g, '.');
}

export interface EventContext {
  readonly hostname: string;
  readonly pid: number;
  readonly clock: number | null;
  /** Milliseconds since the epoch. */
  readonly now: number;
}

/** Builds an event in Celery's field order: the dispatcher's fields, the event's own, then timestamp and type. */
export function buildEvent(type: string, fields: EventFields, context: EventContext): CeleryEvent {
  const event: Record<string, JsonValue> = {
    hostname: context.hostname,
    utcoffset: utcoffset(new Date(context.now)),
    pid: context.pid,
    clock: context.clock,
    ...fields,
  };
  if (!('timestamp' in fields)) event.timestamp = context.now / 1000;
  event.type = type;
  return event as CeleryEvent;
}

/**
 * Fields a Python worker sends as floats (`freq` is `float(interval)`, `loadavg` rounded floats, `runtime` and
 * `timestamp` from `time`). JSON keeps `2.0` apart from `2` in Python, and tools print them differently
 * (`celery events --dump` shows `freq=2.0`), so whole numbers in these fields are written with `.0`.
 */
const FLOAT_FIELDS = new Set(['freq', 'loadavg', 'runtime', 'timestamp']);
const FLOAT_MARK = '\u0000float:';
const FLOAT_MARKED = /"\\u0000float:(-?\d+)"/g;

/** `JSON.stringify`, with the float fields' whole numbers written as Python writes floats (`2.0`). */
export function eventJson(event: CeleryEvent | readonly CeleryEvent[]): string {
  const asFloat = (value: unknown): unknown =>
    typeof value === 'number' && Number.isSafeInteger(value) ? `${FLOAT_MARK}${value}` : value;
  const text = JSON.stringify(event, function (this: unknown, key: string, value: unknown) {
    if (!FLOAT_FIELDS.has(key) || Array.isArray(this)) return value;
    return Array.isArray(value) ? value.map(asFloat) : asFloat(value);
  });
  return text.replace(FLOAT_MARKED, '$1.0');
}

/** The message that carries an event: JSON body, `hostname` header, transient delivery. */
export function eventMessage(event: CeleryEvent | readonly CeleryEvent[], hostname: string): WireMessage {
  return {
    headers: { hostname },
    properties: { delivery_mode: 1, priority: 0 },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: Buffer.from(eventJson(event), 'utf8'),
  };
}
