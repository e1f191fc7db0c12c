/**
 * Type-level tests for canvas, checked by `npm run typecheck` (tsc). Each `@ts-expect-error` proves that a wrong
 * composition does not compile; if it ever compiles, tsc fails on the unused directive.
 */
import {
  Celery,
  chain,
  chord,
  group,
  signature,
  type AsyncResult,
  type GroupResult,
  type Signature,
} from '../../src/index.js';

const app = new Celery('canvas-types', { broker: 'memory://' });
const add = app.task('tasks.add', (x: number, y: number) => x + y);
const toStr = app.task('tasks.to_str', (n: number) => String(n));
const len = app.task('tasks.len', (s: string) => s.length);
const tsum = app.task('tasks.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
const pair = app.task('tasks.pair', (values: [number, string]) => `${values[0]}${values[1]}`);
const greet = app.task(
  'tasks.greet',
  (name: string, punctuation?: string) => `hi ${name}${punctuation ?? ''}`,
);

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_proof?: T): void {}

export async function checks(): Promise<void> {
  // add.s(2) still takes x: partial args are the last ones.
  const partial = add.s(2);
  assertType<Equals<typeof partial, Signature<[x: number], number>>>();
  await partial.delay(5);
  // @ts-expect-error the remaining argument is a number
  await partial.delay('5');
  // @ts-expect-error add.s(2) takes one more argument, not two
  await partial.delay(1, 2);
  const _full = add.s(1, 2);
  assertType<Equals<typeof _full, Signature<[], number>>>();
  const _none = add.s();
  assertType<Equals<typeof _none, Signature<[x: number, y: number], number>>>();
  // @ts-expect-error a string is not a number
  add.s('2');
  // @ts-expect-error too many arguments
  add.s(1, 2, 3);
  greet.s('!');
  // @ts-expect-error si takes every argument
  add.si(1);

  // A chain's result follows its last link; each link takes the previous result.
  const c = chain(add.s(1, 2), toStr.s(), len.s());
  const cr = await c.applyAsync();
  assertType<Equals<typeof cr, AsyncResult<number>>>();
  const n: number = await cr.get();
  void n;
  // @ts-expect-error len takes a string, add returns a number
  chain(add.s(1, 2), len.s());
  // @ts-expect-error a fully applied signature cannot take the previous result (use si)
  chain(add.s(1, 2), add.s(3, 4));
  chain(add.s(1, 2), add.si(3, 4));
  const piped = add.s(1, 2).pipe(toStr.s()).pipe(len.s());
  const _pr = await piped.delay();
  assertType<Equals<typeof _pr, AsyncResult<number>>>();
  // @ts-expect-error toStr returns a string, add takes a number first
  add.s(1, 2).pipe(toStr.s()).pipe(add.s(1));

  // A chain ending in a group gives its GroupResult.
  const _cg = await chain(add.s(1, 2), group(add.s(1), toStr.s())).applyAsync();
  assertType<Equals<typeof _cg, GroupResult<[number, string]>>>();

  // A group's result is a tuple of its members' results (an array for a list).
  const g = group(add.s(1, 2), toStr.s(3));
  const gr = await g.applyAsync();
  assertType<Equals<typeof gr, GroupResult<[number, string]>>>();
  const values: [number, string] = await gr.get();
  void values;
  const many = group([1, 2, 3].map((i) => add.s(i, i)));
  const manyResult: number[] = await (await many.applyAsync()).get();
  void manyResult;

  // A chord's body takes the header's results.
  const ch = chord([add.s(1, 1), add.s(2, 2)], tsum.s());
  const _chr = await ch.applyAsync();
  assertType<Equals<typeof _chr, AsyncResult<number>>>();
  chord(group(add.s(1, 1), toStr.s(2)), pair.s());
  // @ts-expect-error the header gives numbers, len takes a string
  chord([add.s(1, 1)], len.s());
  // @ts-expect-error the body must still take the header's results
  chord([add.s(1, 1)], tsum.s([1]));
  const _started = await chord([add.s(1, 1)])(tsum.s());
  assertType<Equals<typeof _started, AsyncResult<number>>>();

  // map, starmap, chunks check their items.
  add.starmap([
    [1, 2],
    [3, 4],
  ]);
  // @ts-expect-error starmap items are add's argument lists
  add.starmap([['1', 2]]);
  toStr.map([1, 2, 3]);
  // @ts-expect-error map items are toStr's first argument
  toStr.map(['a']);
  const _chunked = await add.chunks([[1, 2]], 10).applyAsync();
  assertType<Equals<typeof _chunked, GroupResult<number[][]>>>();

  // Signatures by name are untyped, and accepted anywhere.
  chain(signature('py.task', [1]), add.s(1));
}
