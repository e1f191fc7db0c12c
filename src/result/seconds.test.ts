import { afterEach, describe, expect, it, vi } from 'vitest';
import { secondsToMs } from './seconds.js';

describe('secondsToMs', () => {
  afterEach(() => vi.restoreAllMocks());

  it('converts seconds and keeps undefined', () => {
    expect(secondsToMs('timeout', 2.5)).toBe(2500);
    expect(secondsToMs('interval', 0)).toBe(0);
    expect(secondsToMs('timeout', undefined)).toBeUndefined();
  });

  it('refuses what is not a number of seconds, naming the option', () => {
    expect(() => secondsToMs('timeout', -1)).toThrow(/timeout must be a number of seconds >= 0, got -1/);
    expect(() => secondsToMs('interval', Number.NaN)).toThrow(/interval/);
  });

  it('warns once when a value looks like milliseconds', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    secondsToMs('interval', 5000);
    secondsToMs('interval', 5000);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/in seconds .* pass 5\./);
  });
});
