/**
 * Lamport's logical clock, as kombu's `LamportClock` (kombu/clocks.py): every process ticks it before it sends
 * (`forward`) and moves it past any clock value it receives (`adjust`), so that events and remote-control messages
 * from several processes can be put in an order that respects "happened before". Celery stamps every event and
 * every pidbox message with it (the `clock` field); each app has one (`app.clock`). Pure and synchronous; Node
 * runs one callback at a time, so kombu's mutex has no counterpart here.
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
