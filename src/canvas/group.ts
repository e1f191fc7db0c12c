/**
 * `group([a, b, c])`: the tasks run in parallel; every message carries the group id (`headers.group`), and the
 * GroupResult gives their results in order (`celery/canvas.py group`). Nested groups are flattened.
 */
import type { Celery } from '../app/celery.js';
import type { SignatureDict } from '../protocol/message.js';
import type { GroupResult } from '../result/group-result.js';
import { groupDict, tasksOf } from './freeze.js';
import { registerSignatureKind, Signature, toDict, type AnySignature, type ResultOf } from './signature.js';

/** The result tuple of a list of signatures: `[number, string]` for `[add.s(1, 2), echo.s('x')]`. */
export type ResultsOf<T extends readonly unknown[]> = { -readonly [K in keyof T]: ResultOf<T[K]> };

export class Group<R extends unknown[] = unknown[]> extends Signature<unknown[], R, GroupResult<R>> {
  /** The members, as signatures. */
  get tasks(): AnySignature[] {
    return tasksOf(this.dict).map((t) => Signature.fromDict(t, this.app));
  }

  get length(): number {
    return tasksOf(this.dict).length;
  }
}
registerSignatureKind('group', Group);

function firstApp(tasks: readonly (AnySignature | SignatureDict)[]): Celery | undefined {
  for (const t of tasks) if (t instanceof Signature && t.app) return t.app;
  return undefined;
}

/** A group of signatures, given as one list or as arguments. Its result is a tuple (or array) of theirs. */
export function group<T extends readonly AnySignature[]>(tasks: readonly [...T]): Group<ResultsOf<T>>;
export function group<T extends readonly AnySignature[]>(...tasks: T): Group<ResultsOf<T>>;
export function group(tasks: readonly SignatureDict[]): Group;
export function group(...input: unknown[]): Group {
  const tasks = (input.length === 1 && Array.isArray(input[0]) ? input[0] : input) as readonly (
    AnySignature | SignatureDict
  )[];
  return new Group(firstApp(tasks), groupDict(tasks.map(toDict)));
}
