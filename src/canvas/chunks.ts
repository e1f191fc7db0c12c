/**
 * `task.map(it)`, `task.starmap(it)` and `task.chunks(it, n)`: many calls of one task as few messages. `map` and
 * `starmap` are one message to the built-in `celery.map` / `celery.starmap`, which loop in one worker; `chunks`
 * splits the calls into a group of `celery.starmap` tasks of `n` calls each (`celery/canvas.py xmap, chunks`).
 */
import type { Celery } from '../app/celery.js';
import type { SignatureDict } from '../protocol/message.js';
import type { GroupResult } from '../result/group-result.js';
import type { JsonValue } from '../types.js';
import { chunksToGroup, mapDict } from './freeze.js';
import type { Group } from './group.js';
import { registerSignatureKind, Signature } from './signature.js';

export class Chunks<R = unknown> extends Signature<unknown[], R[][], GroupResult<R[][]>> {
  /** The group of `celery.starmap` tasks this sends. */
  group(): Group<R[][]> {
    return Signature.fromDict(chunksToGroup(structuredClone(this.dict)), this.app) as unknown as Group<R[][]>;
  }
}
registerSignatureKind('chunks', Chunks);

export function mapSignature<R>(
  app: Celery | undefined,
  kind: 'celery.map' | 'celery.starmap',
  task: SignatureDict,
  it: Iterable<unknown>,
): Signature<unknown[], R[]> {
  return new Signature<unknown[], R[]>(app, mapDict(kind, task, [...it] as JsonValue[]));
}

export function chunksSignature<R>(
  app: Celery | undefined,
  task: SignatureDict,
  it: Iterable<readonly unknown[]>,
  n: number,
): Chunks<R> {
  if (!Number.isInteger(n) || n < 1) {
    throw new TypeError(`chunks(): the chunk size must be a positive integer, got ${n}`);
  }
  const items = [...it].map((args) => [...args]) as JsonValue[];
  return new Chunks<R>(app, {
    task: 'celery.chunks',
    args: [],
    kwargs: { task, it: items, n },
    options: {},
    subtask_type: null,
    immutable: true,
  });
}
