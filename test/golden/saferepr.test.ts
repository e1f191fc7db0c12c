/**
 * argsrepr/kwargsrepr against `celery.utils.saferepr.saferepr` outputs recorded by capture.py: quoting, nesting
 * cut at three levels, Python float formatting and the length limit with its pending brackets.
 */
import { describe, expect, it } from 'vitest';
import { pyReprArgs, pyReprKwargs, saferepr } from '../../src/protocol/pyrepr.js';
import { safereprFixture } from './fixtures.js';

const fixture = safereprFixture!;

describe('saferepr, as celery/utils/saferepr.py', () => {
  it('has the captured cases', () => {
    expect(fixture.args.length).toBeGreaterThan(10);
  });

  it.each(fixture.args.map((c) => [c.repr.slice(0, 60), c] as const))('args %s', (_label, c) => {
    expect(pyReprArgs(c.args, c.maxlen)).toBe(c.repr);
  });

  it.each(fixture.lists.map((c) => [c.repr.slice(0, 60), c] as const))(
    'list (protocol 1) %s',
    (_label, c) => {
      expect(saferepr(c.value)).toBe(c.repr);
    },
  );

  it.each(fixture.kwargs.map((c) => [c.repr.slice(0, 60), c] as const))('kwargs %s', (_label, c) => {
    expect(pyReprKwargs(c.kwargs, c.maxlen)).toBe(c.repr);
  });

  it('prints integral numbers as integers, since a JavaScript number cannot say it was 3.0', () => {
    expect(pyReprArgs([3, 3.0, -0, 2 ** 53])).toBe('(3, 3, -0.0, 9007199254740992)');
  });

  it('does not loop on cyclic values', () => {
    const cyclic: unknown[] = [1];
    cyclic.push(cyclic);
    expect(saferepr(cyclic)).toBe('[1, ...]');
  });
});
