import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pyReprArgs, pyReprKwargs, PyTuple, saferepr } from './pyrepr.js';

describe('argsrepr fast path', () => {
  it('writes short flat args exactly as the saferepr walk does', () => {
    const scalar = fc.oneof(
      fc.integer(),
      fc.maxSafeInteger(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.string({ maxLength: 45 }),
      fc.string({ unit: 'grapheme', maxLength: 10 }),
      fc.constantFrom("it's", 'back\\slash', 'tab\there', ''),
    );
    fc.assert(
      fc.property(fc.array(scalar, { maxLength: 20 }), (args) => {
        expect(pyReprArgs(args)).toBe(saferepr(new PyTuple(args), 1024));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes empty kwargs as {}', () => {
    expect(pyReprKwargs({})).toBe(saferepr({}, 1024));
    expect(pyReprKwargs({ a: 1 })).toBe("{'a': 1}");
  });
});
