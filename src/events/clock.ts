/**
 * The order of events (kombu/clocks.py `timetuple`). The Lamport clock itself lives in protocol/lamport-clock.ts
 * (the app stamps what it sends with it) and is re-exported here.
 */
export { LamportClock } from '../protocol/lamport-clock.js';

/** One event's place in time, as kombu's `timetuple`: Lamport clock, wall-clock timestamp, sender id. */
export interface EventOrder {
  readonly clock: number;
  /** Seconds since the epoch. */
  readonly timestamp: number;
  /** The sender: `hostname.pid` for a worker, the client's hostname for task-sent. */
  readonly origin: string;
}

/**
 * `timetuple.__lt__` (kombu/clocks.py): by Lamport clock when both events have one (equal clocks by sender id),
 * else by timestamp. Returns a negative number when `a` comes first. It is not a total order when clocks are
 * missing on some events only, exactly as in kombu; callers sort with it anyway, as Celery does.
 */
export function compareEventOrder(a: EventOrder, b: EventOrder): number {
  if (a.clock && b.clock) {
    if (a.clock === b.clock) return a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0;
    return a.clock - b.clock;
  }
  return a.timestamp - b.timestamp;
}
