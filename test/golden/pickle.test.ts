/**
 * The pickle codec against Python's own pickle module (fixtures from test/golden/capture_pickle.py): every pickle
 * Python wrote with protocols 0 to 5 reads back as the value, or is refused when it holds a global or a reduce
 * call; the writer's protocol 4 output is Python's byte for byte; the reader never crashes on arbitrary bytes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dumpPickle,
  loadPickle,
  loadPickleInert,
  PickleCall,
  PickleError,
  PickleGlobal,
  type PickleInput,
  PickleTuple,
} from '../../src/protocol/pickle/index.js';

interface Fixture {
  python: string;
  cases: {
    name: string;
    value: unknown;
    input: unknown;
    pickles: { protocol: number; hex: string; refused: boolean; canonical: boolean }[];
  }[];
  big: { name: string; pickles: { protocol: number; sha256: string; length: number }[] }[];
  refused: { name: string; hex: string }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/pickle.json', import.meta.url), 'utf8'),
) as Fixture;

/** Tagged JSON (see capture_pickle.py) to the reader's values (`write` false) or the writer's input. */
function untag(value: unknown, write: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => untag(v, write));
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  if ('$bytes' in record) return Uint8Array.from(Buffer.from(record.$bytes as string, 'hex'));
  if ('$int' in record) return BigInt(record.$int as string);
  if ('$float' in record) return record.$float === 'inf' ? Infinity : -Infinity;
  if ('$tuple' in record)
    return new PickleTuple((record.$tuple as unknown[]).map((v) => untag(v, write) as PickleInput));
  if ('$set' in record) return new Set((record.$set as unknown[]).map((v) => untag(v, write)));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record))
    Object.defineProperty(out, k, { value: untag(v, write), enumerable: true });
  return out;
}

const BIG: Record<string, () => unknown> = {
  'str-70000': () => 'z'.repeat(70000),
  'bytes-70000': () => new Uint8Array(70000).fill(0x77),
  'list-1000': () => Array.from({ length: 1000 }, (_, i) => i),
  'list-1001': () => Array.from({ length: 1001 }, (_, i) => i),
  'list-2500': () => Array.from({ length: 2500 }, (_, i) => i),
  'dict-1000': () => Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])),
  'dict-1001': () => Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, i])),
  'frames-list': () => Array.from({ length: 6000 }, (_, i) => `item-${i}`),
  'frames-dict': () =>
    Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`key-${i}`, 'v'.repeat(2 + (i % 50))])),
  'frames-mixed': () => [
    'a'.repeat(40000),
    'b'.repeat(65536),
    [1, 2],
    new Uint8Array(65536).fill(0x63),
    'd'.repeat(30000),
    { e: 'f'.repeat(65535) },
  ],
};

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe(`pickle codec against Python ${fixture.python}`, () => {
  for (const c of fixture.cases) {
    it(`reads ${c.name} from every protocol`, () => {
      for (const p of c.pickles) {
        const bytes = Buffer.from(p.hex, 'hex');
        if (p.refused) expect(() => loadPickle(bytes), `protocol ${p.protocol}`).toThrow(PickleError);
        else expect(loadPickle(bytes), `protocol ${p.protocol}`).toEqual(untag(c.value, false));
      }
    });
    const protocol4 = c.pickles.find((p) => p.protocol === 4)!;
    it.runIf(
      protocol4.canonical &&
        !protocol4.refused &&
        !['bytearray', 'frozenset'].includes(c.name) &&
        !c.name.includes('keys'),
    )(`writes ${c.name} as Python does`, () => {
      expect(hex(dumpPickle(untag(c.input, true)))).toBe(protocol4.hex);
    });
  }

  for (const b of fixture.big) {
    it(`writes and reads ${b.name} (frames, batches, out-of-frame data) as Python does`, () => {
      const value = BIG[b.name]!();
      const written = dumpPickle(value);
      const [p4, p5] = b.pickles;
      expect({ length: written.length, sha256: sha256(written) }).toEqual({
        length: p4!.length,
        sha256: p4!.sha256,
      });
      // Protocol 5 differs only in its header byte for plain data.
      const as5 = Uint8Array.from(written);
      as5[1] = 5;
      expect(sha256(as5)).toBe(p5!.sha256);
      expect(loadPickle(written)).toEqual(value);
    });
  }

  for (const r of fixture.refused) {
    it(`refuses ${r.name} with an error that says why`, () => {
      expect(() => loadPickle(Buffer.from(r.hex, 'hex'))).toThrow(/Python object|global|recursive|not a str/);
    });
  }

  it('names the refused global in its error', () => {
    const datetime = fixture.refused.find((r) => r.name === 'datetime')!;
    expect(() => loadPickle(Buffer.from(datetime.hex, 'hex'))).toThrow(/datetime\.datetime/);
  });

  it('reads globals and calls as inert records only when asked', () => {
    const call = new PickleCall(new PickleGlobal('celery.result', 'GroupResult'), ['g1', [1]]);
    const bytes = dumpPickle(call);
    expect(() => loadPickle(bytes)).toThrow(/celery\.result\.GroupResult/);
    const inert = loadPickleInert(bytes) as PickleCall;
    expect(inert).toBeInstanceOf(PickleCall);
    expect(inert.callee).toEqual(new PickleGlobal('celery.result', 'GroupResult'));
    expect(inert.args).toEqual(['g1', [1]]);
  });

  it('refuses values that are not plain data when writing', () => {
    expect(() => dumpPickle(new Date())).toThrow(/Date/);
    const loop: unknown[] = [];
    loop.push(loop);
    expect(() => dumpPickle(loop)).toThrow(/recursive/);
    expect(() => dumpPickle(() => 1)).toThrow(/function/);
  });

  it('refuses deep nesting and expansion through shared references', () => {
    let deep: unknown = [];
    for (let i = 0; i < 1100; i++) deep = [deep];
    expect(() => dumpPickle(deep)).toThrow(/deeper/);
    // [] then 40 times: t = (t, t) through the memo, 2^40 values once expanded.
    const ops: number[] = [0x80, 4, 0x5d, 0x94, 0x30];
    for (let i = 0; i < 40; i++) ops.push(0x68, i, 0x68, i, 0x86, 0x94, 0x30);
    ops.push(0x68, 40, 0x2e);
    expect(() => loadPickle(Uint8Array.from(ops))).toThrow(/more than/);
  });

  it('round-trips arbitrary plain data', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const normal = JSON.parse(JSON.stringify(value)) as unknown;
        expect(loadPickle(dumpPickle(normal))).toEqual(normal);
      }),
      { numRuns: 300 },
    );
  });

  it('never crashes on arbitrary bytes: a value or a PickleError', () => {
    const seeds = fixture.cases.flatMap((c) => c.pickles.map((p) => Buffer.from(p.hex, 'hex')));
    const mutated = fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      )
      .map(([seed, edits]) => {
        const bytes = Uint8Array.from(seed);
        for (const [at, value] of edits) if (bytes.length > 0) bytes[at % bytes.length] = value;
        return bytes;
      });
    const random = fc.uint8Array({ maxLength: 64 }).map((b) => Uint8Array.from([0x80, 4, ...b]));
    fc.assert(
      fc.property(fc.oneof(mutated, random, fc.uint8Array({ maxLength: 64 })), (bytes) => {
        for (const load of [loadPickle, loadPickleInert]) {
          try {
            const value = load(bytes);
            JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
          } catch (error) {
            expect(error).toBeInstanceOf(PickleError);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});
