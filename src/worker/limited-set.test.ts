import { describe, expect, it } from 'vitest';
import { LimitedSet, REVOKE_EXPIRES, REVOKES_MAX } from './limited-set.js';

function clocked(options: { maxlen?: number; expires?: number }): {
  set: LimitedSet;
  tick: (ms: number) => void;
} {
  let now = 1_000_000;
  const set = new LimitedSet({ ...options, now: () => now });
  return { set, tick: (ms) => (now += ms) };
}

describe('LimitedSet', () => {
  it("has Celery's revoke defaults: 50,000 ids, 3 hours", () => {
    expect([REVOKES_MAX, REVOKE_EXPIRES]).toEqual([50_000, 10_800]);
  });

  it('keeps at most maxlen ids, forgetting the oldest first', () => {
    const { set } = clocked({ maxlen: 3 });
    for (const id of ['a', 'b', 'c', 'd']) set.add(id);
    expect(set.size).toBe(3);
    expect(set.has('a')).toBe(false);
    expect([...set]).toEqual(['b', 'c', 'd']);
  });

  it('adding an id again renews it: it becomes the newest and its expiry restarts', () => {
    const { set, tick } = clocked({ maxlen: 2, expires: 10 });
    set.add('a');
    tick(6_000);
    set.add('b');
    set.add('a');
    set.add('c');
    expect([...set]).toEqual(['a', 'c']);
    tick(6_000);
    expect(set.has('a')).toBe(true);
  });

  it('forgets an id once it is older than expires, even below maxlen', () => {
    const { set, tick } = clocked({ maxlen: 100, expires: 10 });
    set.add('a');
    tick(9_999);
    expect(set.has('a')).toBe(true);
    tick(1);
    expect(set.has('a')).toBe(false);
    expect(set.size).toBe(0);
  });

  it('drops expired ids as new ones are added', () => {
    const { set, tick } = clocked({ expires: 1 });
    set.update(['a', 'b']);
    tick(1_000);
    set.add('c');
    expect(set.size).toBe(1);
    expect(set.entries().map(([id]) => id)).toEqual(['c']);
  });

  it('merges ids added elsewhere with their time, ignoring ones already expired', () => {
    const { set } = clocked({ expires: 10 });
    set.add('old', 1_000_000 - 10_000);
    set.add('recent', 1_000_000 - 5_000);
    expect(set.has('old')).toBe(false);
    expect(set.entries()).toEqual([['recent', 1_000_000 - 5_000]]);
  });

  it('discards and clears', () => {
    const set = new LimitedSet();
    set.update(['a', 'b', 'c']);
    set.discard('b');
    expect([...set]).toEqual(['a', 'c']);
    set.clear();
    expect(set.size).toBe(0);
  });

  it('refuses a negative maxlen or expires', () => {
    expect(() => new LimitedSet({ maxlen: -1 })).toThrow(/maxlen/);
    expect(() => new LimitedSet({ expires: -1 })).toThrow(/expires/);
  });
});
