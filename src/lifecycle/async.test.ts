import { afterEach, describe, expect, it, vi } from 'vitest';
import { settledWithin } from './async.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('settledWithin', () => {
  it('resolves when the promise settles, either way, without calling onLate', async () => {
    const onLate = vi.fn();
    await settledWithin(Promise.resolve(1), 1000, onLate);
    await settledWithin(Promise.reject(new Error('no')), 1000, onLate);
    expect(onLate).not.toHaveBeenCalled();
  });

  it('resolves after ms when the promise never settles, calling onLate once', async () => {
    vi.useFakeTimers();
    const onLate = vi.fn();
    let resolved = false;
    void settledWithin(new Promise(() => undefined), 10_000, onLate).then(() => (resolved = true));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(resolved).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(resolved).toBe(true);
    expect(onLate).toHaveBeenCalledTimes(1);
  });
});
