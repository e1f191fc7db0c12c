import { describe, expect, it } from 'vitest';
import { parseRate, RateLimiter, TokenBucket } from './rate-limit.js';

describe('parseRate (celery.utils.time.rate)', () => {
  it('reads per second, minute and hour, numbers and "no limit"', () => {
    expect(parseRate('10/s')).toBe(10);
    expect(parseRate('100/m')).toBeCloseTo(100 / 60);
    expect(parseRate('5/h')).toBeCloseTo(5 / 3600);
    expect(parseRate('0.5')).toBe(0.5);
    expect(parseRate(3)).toBe(3);
    for (const none of [null, undefined, '', 0, '0/s']) expect(parseRate(none)).toBe(0);
  });

  it('names the accepted forms when the rate is malformed', () => {
    expect(() => parseRate('10/d')).toThrow(/"10\/d".*"10\/s", "100\/m", "5\/h"/);
    expect(() => parseRate(-1)).toThrow(/Invalid rate limit/);
  });
});

describe('TokenBucket (kombu.utils.limits)', () => {
  it('starts full with one token and refills at the fill rate', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 1, () => now);
    expect(bucket.canConsume()).toBe(true);
    expect(bucket.canConsume()).toBe(false);
    expect(bucket.expectedTime()).toBeCloseTo(100);
    now = 50;
    expect(bucket.canConsume()).toBe(false);
    expect(bucket.expectedTime()).toBeCloseTo(50);
    now = 100;
    expect(bucket.canConsume()).toBe(true);
    now = 10_000;
    expect(bucket.canConsume()).toBe(true);
    // Capacity 1: a long idle time does not buy a burst.
    expect(bucket.canConsume()).toBe(false);
  });
});

describe('RateLimiter', () => {
  it('lets the first request through, queues the rest in order and releases them at the rate', async () => {
    const released: number[] = [];
    const limiter = new RateLimiter<number>({ release: (n) => released.push(n) });
    limiter.set('t', 200);
    expect(limiter.admit('t', 1)).toBe(false);
    expect(limiter.admit('t', 2)).toBe(true);
    expect(limiter.admit('t', 3)).toBe(true);
    expect(limiter.admit('other', 4)).toBe(false);
    expect(limiter.waiting).toBe(2);
    await expect.poll(() => released).toEqual([2, 3]);
    expect(limiter.waiting).toBe(0);
  });

  it('releases everything waiting when the limit is removed, and gives waiting requests back', () => {
    const released: string[] = [];
    const limiter = new RateLimiter<string>({ release: (s) => released.push(s) });
    limiter.set('t', 1 / 3600);
    limiter.admit('t', 'a');
    limiter.admit('t', 'b');
    limiter.admit('t', 'c');
    expect(released).toEqual([]);
    expect(limiter.takeAll()).toEqual(['b', 'c']);
    limiter.admit('t', 'd');
    limiter.set('t', 0);
    expect(released).toEqual(['d']);
    expect(limiter.has('t')).toBe(false);
  });
});
