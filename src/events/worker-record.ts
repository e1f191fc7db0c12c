/**
 * One worker as the events show it, as Celery's `celery.events.state.Worker`: the fields of its last
 * worker-online/heartbeat/offline event and the arrival times of its last few heartbeats, from which `alive`
 * follows (a worker is alive until `freq × HEARTBEAT_EXPIRE_WINDOW %` after its last heartbeat).
 */
import type { JsonValue } from '../types.js';

/** `HEARTBEAT_EXPIRE_WINDOW`: a worker is offline after 200 % of its heartbeat interval without a heartbeat. */
export const HEARTBEAT_EXPIRE_WINDOW = 200;
/** `HEARTBEAT_DRIFT_MAX`: seconds between an event's timestamp and its arrival before clocks look out of sync. */
export const HEARTBEAT_DRIFT_MAX = 16;
/** `Worker.heartbeat_max`: how many heartbeat times are kept. */
const HEARTBEAT_MAX = 4;
/** Celery's `Worker.freq` default, used until the worker's own worker-* event says otherwise. */
const DEFAULT_FREQ = 60;

/** `heartbeat_expires(timestamp, freq, expire_window)`: when a heartbeat at `timestamp` stops counting. */
export function heartbeatExpires(
  timestamp: number,
  freq: number = DEFAULT_FREQ,
  expireWindow: number = HEARTBEAT_EXPIRE_WINDOW,
): number {
  return timestamp + freq * (expireWindow / 100);
}

/** The read-only view of a worker that EventsState hands out. */
export interface WorkerSnapshot {
  readonly hostname: string;
  readonly pid: number | null;
  /** Heartbeat interval in seconds (60 until a worker-* event from the worker gives its own). */
  readonly freq: number;
  /** Arrival times (seconds) of the last four heartbeats, oldest first; empty after worker-offline. */
  readonly heartbeats: readonly number[];
  readonly clock: number;
  readonly active: number | null;
  readonly processed: number | null;
  readonly loadavg: readonly number[] | null;
  readonly swIdent: string | null;
  readonly swVer: string | null;
  readonly swSys: string | null;
  /** The sender's time of its last worker-* event (seconds, localized), null before the first one. */
  readonly timestamp: number | null;
  /** Other fields of worker-* events, as sent. */
  readonly extra: Readonly<Record<string, JsonValue>>;
  /** `hostname.pid`, Celery's `Worker.id` (the pid reads `None` before it is known, as in Celery). */
  readonly id: string;
  /** When the last heartbeat stops counting (seconds), null without heartbeats. */
  readonly heartbeatExpires: number | null;
  /** Alive at `now` (seconds): a heartbeat within the expiry window. */
  isAlive(now: number): boolean;
}

/** Fields of worker events that are the envelope or handled apart, not kept in `extra`. */
const ENVELOPE = new Set(['type', 'hostname', 'utcoffset', 'local_received', 'timestamp']);

export class WorkerRecord implements WorkerSnapshot {
  pid: number | null = null;
  freq = DEFAULT_FREQ;
  heartbeats: number[] = [];
  clock = 0;
  active: number | null = null;
  processed: number | null = null;
  loadavg: number[] | null = null;
  swIdent: string | null = null;
  swVer: string | null = null;
  swSys: string | null = null;
  timestamp: number | null = null;
  extra: Record<string, JsonValue> = {};

  constructor(
    readonly hostname: string,
    private readonly expireWindow: number = HEARTBEAT_EXPIRE_WINDOW,
  ) {}

  private cachedId: string | null = null;

  /** Built once per pid: every task event's ordering key holds it, so tasks share one string. */
  get id(): string {
    return (this.cachedId ??= `${this.hostname}.${this.pid ?? 'None'}`);
  }

  get heartbeatExpires(): number | null {
    const last = this.heartbeats.at(-1);
    return last === undefined ? null : heartbeatExpires(last, this.freq, this.expireWindow);
  }

  isAlive(now: number): boolean {
    const expires = this.heartbeatExpires;
    return expires !== null && now < expires;
  }

  /** Takes the fields of a worker-* event, as Celery sets every event field on the Worker. */
  merge(event: Readonly<Record<string, JsonValue>>): void {
    for (const [key, value] of Object.entries(event)) {
      if (!this.setKnown(key, value) && !ENVELOPE.has(key)) this.extra[key] = value;
    }
    if (typeof event.timestamp === 'number') this.timestamp = event.timestamp;
  }

  /** Known fields of the wrong type are left as they were (a malformed event cannot corrupt the record). */
  private setKnown(key: string, value: JsonValue): boolean {
    switch (key) {
      case 'pid':
        if (typeof value === 'number' && value !== this.pid) {
          this.pid = value;
          this.cachedId = null;
        }
        return true;
      case 'freq':
        if (typeof value === 'number' && value > 0) this.freq = value;
        return true;
      case 'clock':
        if (typeof value === 'number') this.clock = value;
        return true;
      case 'active':
        if (typeof value === 'number') this.active = value;
        return true;
      case 'processed':
        if (typeof value === 'number') this.processed = value;
        return true;
      case 'loadavg':
        if (Array.isArray(value) && value.every((v) => typeof v === 'number')) this.loadavg = value;
        return true;
      default:
        return this.setSoftware(key, value);
    }
  }

  private setSoftware(key: string, value: JsonValue): boolean {
    if (key !== 'sw_ident' && key !== 'sw_ver' && key !== 'sw_sys') return false;
    const text = typeof value === 'string' ? value : null;
    if (key === 'sw_ident') this.swIdent = text;
    else if (key === 'sw_ver') this.swVer = text;
    else this.swSys = text;
    return true;
  }

  /** worker-offline: no heartbeats, so not alive (`heartbeats[:] = []`). */
  goOffline(): void {
    this.heartbeats = [];
  }

  /**
   * Records a heartbeat at `at` (seconds), keeping the last four in order, as `Worker.event`'s insort. Returns the
   * drift in whole seconds between `at` and `other` (the other of the two times the event carries) so that the
   * caller can warn about clocks out of sync.
   */
  beat(at: number, other: number): number {
    const drift = Math.abs(Math.trunc(at) - Math.trunc(other));
    const beats = this.heartbeats;
    const count = beats.length;
    if (count > HEARTBEAT_MAX - 1) beats.shift();
    const last = beats.at(-1);
    if (count && last !== undefined && at > last) beats.push(at);
    else insertSorted(beats, at);
    return drift;
  }
}

/** `bisect.insort`: after any equal values. */
function insertSorted(values: number[], value: number): void {
  let index = values.length;
  while (index > 0 && (values[index - 1] ?? 0) > value) index -= 1;
  values.splice(index, 0, value);
}
