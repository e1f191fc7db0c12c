import { describe, expect, it } from 'vitest';
import { EncodeError } from '../../errors.js';
import { decodeJson, encodeJson, hasLongDigitRun, jsonSerializer } from './json.js';

describe('JSON serializer: integers beyond 2^53', () => {
  it('decodes unsafe integers as BigInt and leaves every other number as JSON.parse reads it', () => {
    const text =
      '{"a": 9007199254740993, "b": [-9007199254740993, 1.5, 12345678901234567.5, 42], "c": "12345678901234567"}';
    expect(decodeJson(text)).toEqual({
      a: 9007199254740993n,
      b: [-9007199254740993n, 1.5, Number('12345678901234567.5'), 42],
      c: '12345678901234567',
    });
    expect(decodeJson('[1, 2.5, "x", null, true]')).toEqual([1, 2.5, 'x', null, true]);
    expect(decodeJson('[900719925474099, 0.1234567890123456]')).toEqual([
      900719925474099, 0.1234567890123456,
    ]);
  });

  it('encodes BigInt as a JSON integer, exactly, and keeps JSON.stringify output otherwise', () => {
    expect(encodeJson({ a: 9007199254740993n, b: [-9007199254740993n, 1, 'x'], d: new Date(0) })).toBe(
      '{"a":9007199254740993,"b":[-9007199254740993,1,"x"],"d":"1970-01-01T00:00:00.000Z"}',
    );
    const plain = { s: 'plain', n: 5, nested: [{ x: null }], skip: undefined };
    expect(encodeJson(plain)).toBe(JSON.stringify(plain));
    // A user string that looks like the internal token is left alone.
    expect(encodeJson(['\u0001bigint:5', 1n])).toBe('["\\u0001bigint:5",1]');
  });

  it('round-trips through the serializer', () => {
    const args = [[9007199254740993n, -18446744073709551617n], { big: 2n ** 64n + 1n }, {}];
    expect(jsonSerializer.decode(jsonSerializer.encode(args))).toEqual(args);
  });
});

describe('JSON serializer: bytes', () => {
  it('refuses a Buffer with its path and what to use instead', () => {
    const call = () => encodeJson({ result: [1, { data: Buffer.from('hi') }] });
    expect(call).toThrow(EncodeError);
    expect(call).toThrow(/bytes .* at \$\.result\[1\]\.data as JSON.*base64.*msgpack/);
  });

  it('refuses bytes on the BigInt path and typed arrays too', () => {
    expect(() => encodeJson({ n: 1n, v: [new Uint8Array([1])] })).toThrow(/at \$\.v\[0\]/);
    expect(() => encodeJson(Buffer.from('x'))).toThrow(/at \$ as JSON/);
  });

  it('still refuses functions', () => {
    expect(() => encodeJson({ f: () => 1 })).toThrow(/function at "f"/);
  });
});

describe('JSON serializer: JS numbers beyond 2^53', () => {
  it('are written with their exact digits, so they decode as the same number', () => {
    const n = -57625512782126090;
    expect(encodeJson([n])).toBe(`[${BigInt(n)}]`);
    expect(decodeJson(encodeJson([n, 2 ** 60, 1e20, 1e300]))).toEqual([n, 2 ** 60, 1e20, 1e300]);
  });
});

describe('hasLongDigitRun', () => {
  it('finds a run of 16 digits wherever it starts, and nothing shorter', () => {
    const run = '1234567890123456';
    for (let pad = 0; pad < 40; pad++) {
      expect(hasLongDigitRun(`${'x'.repeat(pad)}${run}`)).toBe(true);
      expect(hasLongDigitRun(`${'x'.repeat(pad)}${run}${'y'.repeat(pad)}`)).toBe(true);
      expect(hasLongDigitRun(`${'x'.repeat(pad)}${run.slice(1)},${run.slice(2)}${'y'.repeat(pad)}`)).toBe(
        false,
      );
      expect(hasLongDigitRun(`${'1'.repeat(pad)}x${run}`)).toBe(true);
    }
  });

  it('agrees with /\\d{16}/ on random digit-heavy texts', () => {
    for (let n = 0; n < 3000; n++) {
      let text = '';
      const length = Math.floor(Math.random() * 120);
      for (let i = 0; i < length; i++) text += Math.random() < 0.93 ? String(i % 10) : ',';
      expect(hasLongDigitRun(text), text).toBe(/\d{16}/.test(text));
    }
  });
});
