import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimeIndex } from './time-index.js';

interface Item {
  timestamp: number | null;
  readonly seq: number;
}

/** The order the index promises: by timestamp then seq, missing timestamps last (by seq) in both directions. */
function expected(items: Iterable<Item>, desc: boolean): number[] {
  const timed = [...items].filter((i) => i.timestamp !== null && !Number.isNaN(i.timestamp));
  const untimed = [...items].filter((i) => i.timestamp === null || Number.isNaN(i.timestamp));
  timed.sort((a, b) => (a.timestamp as number) - (b.timestamp as number) || a.seq - b.seq);
  untimed.sort((a, b) => a.seq - b.seq);
  if (desc) {
    timed.reverse();
    untimed.reverse();
  }
  return [...timed, ...untimed].map((i) => i.seq);
}

function scanned(index: TimeIndex<Item>, desc: boolean): number[] {
  const out: number[] = [];
  index.scan(desc, (item) => {
    out.push(item.seq);
    return true;
  });
  return out;
}

describe('TimeIndex', () => {
  it('keeps tasks in timestamp then seq order through out-of-order adds, moves and removals', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), at: fc.option(fc.integer({ min: 0, max: 40 })) }),
      fc.record({
        kind: fc.constant('move' as const),
        pick: fc.nat(),
        at: fc.option(fc.integer({ min: 0, max: 40 })),
      }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.integer({ min: 0, max: 20 }), (ops, offset) => {
        const index = new TimeIndex<Item>();
        const live: Item[] = [];
        let seq = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            const item = { timestamp: o.at, seq: seq++ };
            live.push(item);
            index.add(item);
          } else if (live.length > 0) {
            const item = live[o.pick % live.length]!;
            if (o.kind === 'move') {
              const before = item.timestamp;
              item.timestamp = o.at;
              index.move(item, before);
            } else {
              index.remove(item);
              live.splice(live.indexOf(item), 1);
            }
          }
        }
        expect(index.size).toBe(live.length);
        for (const desc of [true, false]) {
          const want = expected(live, desc);
          expect(scanned(index, desc)).toEqual(want);
          expect(index.page(offset, 7, desc).map((i) => i.seq)).toEqual(want.slice(offset, offset + 7));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('splits and merges chunks: thousands of tasks, mostly in order, then evicted oldest first', () => {
    const index = new TimeIndex<Item>();
    const items: Item[] = [];
    for (let i = 0; i < 5_000; i += 1) {
      // Every tenth task arrives late, a few seconds back.
      const item = { timestamp: i % 10 === 0 ? i - 7 : i, seq: i };
      items.push(item);
      index.add(item);
    }
    for (const item of items.slice(0, 1_000)) {
      const before = item.timestamp;
      item.timestamp = (before as number) + 10_000;
      index.move(item, before);
    }
    expect(scanned(index, false)).toEqual(expected(items, false));
    expect(index.page(4_990, 20, true).map((i) => i.seq)).toEqual(expected(items, true).slice(4_990));
    for (const item of items.slice(0, 4_000)) index.remove(item);
    expect(index.size).toBe(1_000);
    expect(scanned(index, true)).toEqual(expected(items.slice(4_000), true));
  });

  it('stops a scan when the visitor says so, and finds a task whose timestamp changed without move', () => {
    const index = new TimeIndex<Item>();
    const items = [3, 1, 2].map((at, seq) => ({ timestamp: at, seq }));
    for (const item of items) index.add(item);
    const seen: number[] = [];
    index.scan(true, (item) => seen.push(item.seq) < 2);
    expect(seen).toEqual([0, 2]);
    items[1]!.timestamp = 99;
    index.remove(items[1]!, 42);
    expect(scanned(index, false)).toEqual([2, 0]);
    index.clear();
    expect(index.size).toBe(0);
  });
});
