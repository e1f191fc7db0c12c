/**
 * What an event receiver does to an event message before anyone handles it, as Celery's
 * `EventReceiver._receive` and `event_from_message` (celery/events/receiver.py): a message body is one event or,
 * from Celery 4+ workers, a list of them (`task.multi`); each event gets its `clock` synced with the receiver's
 * Lamport clock (task-sent events get the receiver's own value, since clients never sync their clocks), its
 * `timestamp` moved to this machine's time zone, and `local_received`, the arrival time. Pure: the clock and the
 * time are passed in.
 */
import type { JsonObject, JsonValue } from '../types.js';
import type { LamportClock } from './clock.js';
import { utcoffset } from './event.js';

/**
 * An event as receivers hand it on: the sender's fields (`hostname`, `uuid`, `name`, ...) plus `clock` (always a
 * number now) and `local_received` (seconds since the epoch, on the receiving machine).
 */
export interface ReceivedEvent {
  readonly type: string;
  readonly clock: number;
  readonly local_received: number;
  readonly [field: string]: JsonValue;
}

/** `CLIENT_CLOCK_SKEW`: a task-sent event is placed just before the receiver's current clock value. */
const CLIENT_CLOCK_SKEW = -1;

export interface SplitBody {
  readonly events: JsonObject[];
  /** Items that were not JSON objects (the whole body when it was neither an object nor a list). */
  readonly invalid: unknown[];
}

/** A message body as events: a single object, or a `task.multi` list (empty lists happen and carry nothing). */
export function splitEventBody(body: unknown): SplitBody {
  const items = Array.isArray(body) ? (body as unknown[]) : [body];
  const events: JsonObject[] = [];
  const invalid: unknown[] = [];
  for (const item of items) {
    if (isJsonObject(item)) events.push(item);
    else invalid.push(item);
  }
  return { events, invalid };
}

export interface PrepareOptions {
  /** The receiver's Lamport clock (Celery uses the app's). */
  readonly clock: LamportClock;
  /** Arrival time in seconds since the epoch (`time.time()`). */
  readonly now: number;
  /** This machine's offset to UTC in hours, as Celery counts it; default: computed from the local time zone. */
  readonly localUtcoffset?: number;
  /** Move `timestamp` to local time using the sender's `utcoffset` (Celery's `localize=True`); default true. */
  readonly localize?: boolean;
}

/**
 * `EventReceiver.event_from_message`: returns a new event (the input is not changed). Throws a TypeError naming the
 * problem when the event has no string `type`, which Celery's receiver cannot handle either.
 */
export function prepareEvent(raw: JsonObject, options: PrepareOptions): ReceivedEvent {
  const type = raw.type;
  if (typeof type !== 'string') {
    throw new TypeError(
      `Event without a string "type" field (got ${JSON.stringify(type) ?? 'nothing'}); ` +
        `an event must be a JSON object with "type", "hostname" and "timestamp", as Celery sends them`,
    );
  }
  const event: Record<string, JsonValue> = { ...raw };
  event.clock = syncClock(type, raw.clock, options.clock);
  if (options.localize !== false) {
    const offset = raw.utcoffset;
    const timestamp = raw.timestamp;
    if (typeof offset === 'number' && typeof timestamp === 'number') {
      const here = options.localUtcoffset ?? utcoffset(new Date(options.now * 1000));
      event.timestamp = adjustTimestamp(timestamp, offset, here);
    }
  }
  event.local_received = options.now;
  return event as ReceivedEvent;
}

/** The clock an event is filed under, ticking the receiver's clock as Celery does. */
function syncClock(type: string, sent: JsonValue | undefined, clock: LamportClock): number {
  if (type === 'task-sent') {
    // Clients never sync their clocks, so their value says nothing: use ours, one behind.
    const value = (clock.value || 1) + CLIENT_CLOCK_SKEW;
    clock.adjust(value);
    return value;
  }
  if (typeof sent === 'number') {
    clock.adjust(sent);
    return sent;
  }
  // Celery adjusts with whatever is there and forwards only when the key is missing; a null or non-number clock
  // would make Python raise, so it is treated as missing here.
  return clock.forward();
}

/** `celery.utils.time.adjust_timestamp`: `ts - (offset - here) * 3600`. */
export function adjustTimestamp(timestamp: number, offset: number, here: number): number {
  return timestamp - (offset - here) * 3600;
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
