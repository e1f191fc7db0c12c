import { describe, expect, it } from 'vitest';
import type { SignatureDict } from '../protocol/message.js';
import { foldChain, pipeDicts } from './compose.js';
import { chainDict, chordDict, groupDict, kindOf, tasksOf } from './freeze.js';

const t = (name: string, ...args: number[]): SignatureDict => ({
  task: name,
  args,
  kwargs: {},
  options: {},
  subtask_type: null,
  immutable: false,
});

/** A readable shape: task names, with their kind. */
function shape(d: SignatureDict): unknown {
  switch (kindOf(d)) {
    case 'chain':
      return { chain: tasksOf(d).map(shape) };
    case 'group':
      return { group: tasksOf(d).map(shape) };
    case 'chord':
      return { chord: [shape(d.kwargs.header as SignatureDict), shape(d.kwargs.body as SignatureDict)] };
    default:
      return d.task;
  }
}

describe("composition follows Celery's | rules", () => {
  const cases: [string, SignatureDict, unknown][] = [
    ['task | task', pipeDicts(t('a'), t('b')), { chain: ['a', 'b'] }],
    [
      'group | task -> chord',
      pipeDicts(groupDict([t('a'), t('b')]), t('c')),
      { chord: [{ group: ['a', 'b'] }, 'c'] },
    ],
    [
      'chain | chain -> flat',
      pipeDicts(chainDict([t('a'), t('b')]), chainDict([t('c')])),
      { chain: ['a', 'b', 'c'] },
    ],
    [
      'chain ending in a group | task -> chord',
      pipeDicts(chainDict([t('a'), groupDict([t('b'), t('c')])]), t('d')),
      { chain: ['a', { chord: [{ group: ['b', 'c'] }, 'd'] }] },
    ],
    [
      'chain ending in a chord | task -> body',
      pipeDicts(chainDict([t('a'), chordDict(groupDict([t('b')]), t('c'))]), t('d')),
      { chain: ['a', { chord: [{ group: ['b'] }, { chain: ['c', 'd'] }] }] },
    ],
    [
      'chord | task -> body',
      pipeDicts(chordDict(groupDict([t('a')]), t('b')), t('c')),
      { chord: [{ group: ['a'] }, { chain: ['b', 'c'] }] },
    ],
    ['task | group of one -> unrolled', pipeDicts(t('a'), groupDict([t('b')])), { chain: ['a', 'b'] }],
    ['chain(a, b, c)', foldChain([t('a'), t('b'), t('c')]), { chain: ['a', 'b', 'c'] }],
    [
      'chain(group, task) -> chord',
      foldChain([groupDict([t('a'), t('b')]), t('c')]),
      { chord: [{ group: ['a', 'b'] }, 'c'] },
    ],
  ];
  for (const [name, built, expected] of cases) {
    it(name, () => {
      expect(shape(built)).toEqual(expected);
    });
  }

  it('gives every task of a piped chain the errbacks of the chain', () => {
    const left = chainDict([t('a'), t('b')], { link_error: [t('err')] });
    const piped = pipeDicts(left, t('c'));
    const [a, b, c] = tasksOf(piped);
    expect(a!.options.link_error).toEqual([t('err')]);
    expect(b!.options.link_error).toEqual([t('err')]);
    expect(c!.options.link_error).toBeUndefined();
  });
});
