/**
 * Lamport's logical clock, as kombu's `LamportClock` (kombu/clocks.py): every process ticks it before it sends
 * (`forward`) and moves it past any clock value it receives (`adjust`), so that events from several workers can be
 * put in an order that respects "happened before". Celery stamps every event and every pidbox message with it.
 * Pure and synchronous; Node runs one callback at a time, so kombu's mutex has no counterpart here.
 */

export class LamportClock {
  private current: number;

  constructor(initialValue = 0) {
    if (!Number.isSafeInteger(initialValue) || initialValue < 0) {
      throw new RangeError(
        `LamportClock initial value must be a non-negative integer, got ${String(initialValue)}`,
      );
    }
    this.current = initialValue;
  }

  /** The clock's current value. */
  get value(): number {
    return this.current;
  }

  /** Ticks before sending: the new value goes into the message (`LamportClock.forward`). */
  forward(): number {
    this.current += 1;
    return this.current;
  }

  /**
   * Syncs with a received value: `max(mine, other) + 1` (`LamportClock.adjust`). A value that is not a finite
   * number (a malformed message) only ticks the clock, so one bad sender cannot poison it.
   */
  adjust(other: number): number {
    const theirs = Number.isFinite(other) ? Math.trunc(other) : 0;
    this.current = Math.max(this.current, theirs) + 1;
    return this.current;
  }

  toString(): string {
    return String(this.current);
  }
}

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
