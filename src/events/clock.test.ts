import { describe, expect, it } from 'vitest';
import { compareEventOrder, LamportClock } from './clock.js';

describe("LamportClock (kombu's)", () => {
  it('forward() ticks; adjust(other) is max(mine, other) + 1', () => {
    const clock = new LamportClock();
    expect(clock.forward()).toBe(1);
    expect(clock.adjust(10)).toBe(11);
    expect(clock.adjust(3)).toBe(12);
    expect(clock.value).toBe(12);
    expect(String(clock)).toBe('12');
  });

  it('a value that is not a number only ticks the clock', () => {
    const clock = new LamportClock(5);
    expect(clock.adjust(Number.NaN)).toBe(6);
  });

  it('refuses a bad initial value', () => {
    expect(() => new LamportClock(-1)).toThrow(
      'LamportClock initial value must be a non-negative integer, got -1',
    );
  });
});

describe('compareEventOrder (kombu timetuple)', () => {
  const at = (clock: number, timestamp: number, origin: string) => ({ clock, timestamp, origin });
  it('orders by clock, then by sender id on equal clocks', () => {
    expect(compareEventOrder(at(1, 9, 'b'), at(2, 1, 'a'))).toBeLessThan(0);
    expect(compareEventOrder(at(2, 1, 'a'), at(2, 1, 'b'))).toBeLessThan(0);
    expect(compareEventOrder(at(2, 1, 'a'), at(2, 1, 'a'))).toBe(0);
  });
  it('falls back to the timestamp when either clock is missing (0)', () => {
    expect(compareEventOrder(at(0, 5, 'a'), at(9, 6, 'b'))).toBeLessThan(0);
    expect(compareEventOrder(at(9, 7, 'a'), at(0, 6, 'b'))).toBeGreaterThan(0);
  });
});
