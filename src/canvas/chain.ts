/**
 * `chain(a, b, c)` (Python's `a | b | c`, here also `a.pipe(b).pipe(c)`): each task's result is prepended to the
 * next one's arguments. Only the first task is sent; the rest travel reversed in its message's `embed.chain`, and
 * each worker sends the next link when its task succeeds (`celery/canvas.py _chain`).
 */
import type { Celery } from '../app/celery.js';
import type { SignatureDict } from '../protocol/message.js';
import type { AsyncResult } from '../result/async-result.js';
import { foldChain } from './compose.js';
import { tasksOf } from './freeze.js';
import {
  registerSignatureKind,
  Signature,
  toDict,
  type AnySignature,
  type ArgsOf,
  type HandleOf,
  type ResultOf,
} from './signature.js';
import type { ResultNode } from '../result/group-result.js';

/**
 * `unknown` when signature `S` can follow a task returning `P` (it takes exactly that one remaining argument, or
 * it is immutable, or `P` is unknown: a signature by name), else `never`: `S & LinkFrom<S, P>` then fails to
 * compile.
 */
export type LinkFrom<S, P> = unknown extends P ? unknown : [P] extends ArgsOf<S> ? unknown : never;

/** Checks each link of a chain against the result of the one before it. */
export type CheckLinks<T extends readonly unknown[], P> = T extends readonly [infer H, ...infer Rest]
  ? readonly [H & LinkFrom<H, P>, ...CheckLinks<Rest, ResultOf<H>>]
  : T;

type ValidChain<T extends readonly unknown[]> = T extends readonly [infer F, ...infer Rest]
  ? readonly [F, ...CheckLinks<Rest, ResultOf<F>>]
  : T;

type LastOf<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L] ? L : never;
type FirstOf<T extends readonly unknown[]> = T extends readonly [infer F, ...unknown[]] ? F : never;

export class Chain<
  A extends unknown[] = unknown[],
  R = unknown,
  H extends ResultNode = AsyncResult<R>,
> extends Signature<A, R, H> {
  /** The links, as signatures. */
  get tasks(): AnySignature[] {
    return tasksOf(this.dict).map((t) => Signature.fromDict(t, this.app));
  }
}
registerSignatureKind('chain', Chain);

function firstApp(tasks: readonly (AnySignature | SignatureDict)[]): Celery | undefined {
  for (const t of tasks) if (t instanceof Signature && t.app) return t.app;
  return undefined;
}

/** A chain of signatures; its result is its last task's. A link that cannot take the previous result fails to compile. */
export function chain<T extends readonly [AnySignature, ...AnySignature[]]>(
  ...tasks: T & ValidChain<T>
): Chain<ArgsOf<FirstOf<T>>, ResultOf<LastOf<T>>, HandleOf<LastOf<T>>>;
export function chain(tasks: readonly (AnySignature | SignatureDict)[]): Chain;
export function chain(...input: unknown[]): Chain {
  const tasks = (input.length === 1 && Array.isArray(input[0]) ? input[0] : input) as readonly (
    AnySignature | SignatureDict
  )[];
  if (tasks.length === 0) throw new TypeError('chain() needs at least one signature');
  // Built as Celery builds it (a fold of `|`): a group followed by a task is already a chord, and so on.
  return Signature.fromDict(foldChain(tasks.map(toDict)), firstApp(tasks)) as unknown as Chain;
}
