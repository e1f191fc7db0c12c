import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../types.js';
import { pythonJsonDumps } from './pyjson.js';

describe("pythonJsonDumps (Python's json.dumps text)", () => {
  it("writes Python's separators, escapes and special floats", () => {
    expect(pythonJsonDumps({ a: [1, 'é', null, true] })).toBe('{"a": [1, "\\u00e9", null, true]}');
    expect(pythonJsonDumps([Number.NaN, Infinity, -Infinity])).toBe('[NaN, Infinity, -Infinity]');
  });

  it('writes an integer beyond 2^53 with all its digits (a BigInt), as Python writes an int', () => {
    const value = [9007199254740993n, { n: -9007199254740993n }] as unknown as JsonValue;
    expect(pythonJsonDumps(value)).toBe('[9007199254740993, {"n": -9007199254740993}]');
  });
});
