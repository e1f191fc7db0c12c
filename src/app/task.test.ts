import { describe, expect, it } from 'vitest';
import { bindArguments } from './task.js';

const add = (x: number, y: number): number => x + y;

describe('bindArguments (Python-style calls)', () => {
  it('binds kwargs by the declared parameter names', () => {
    expect(bindArguments('add', add, { params: ['x', 'y'] }, [], { y: 2, x: 1 })).toEqual([1, 2]);
    expect(bindArguments('add', add, { params: ['x', 'y'] }, [1], { y: 2 })).toEqual([1, 2]);
  });

  it('names the problem for unexpected, duplicate, missing and surplus arguments', () => {
    expect(() => bindArguments('add', add, {}, [1], { y: 2 })).toThrow(
      /unexpected keyword argument 'y'.*params/,
    );
    expect(() => bindArguments('add', add, { params: ['x', 'y'] }, [1, 2], { x: 3 })).toThrow(
      /multiple values for argument 'x'/,
    );
    expect(() => bindArguments('add', add, { params: ['x', 'y'] }, [1], {})).toThrow(
      /missing 1 required positional argument\(s\): 'y'/,
    );
    expect(() => bindArguments('add', add, { params: ['x', 'y'] }, [1, 2, 3], {})).toThrow(
      /takes 2 positional argument\(s\) but 3 were given/,
    );
  });

  it('passes unknown kwargs as a final object when the task accepts kwargs', () => {
    const fn = (x: number, rest: Record<string, unknown>): unknown => [x, rest];
    expect(bindArguments('f', fn, { params: ['x'], acceptsKwargs: true }, [], { x: 1, z: 2 })).toEqual([
      1,
      { z: 2 },
    ]);
    expect(bindArguments('f', fn, { params: ['x'], acceptsKwargs: true }, [1], {})).toEqual([1, {}]);
  });
});
