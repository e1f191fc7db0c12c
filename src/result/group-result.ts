/**
 * The result of a group (Celery's `GroupResult`, `celery/result.py`): one handle on many results, in header order.
 * `get()` waits for all of them and rejects as soon as one fails (with `propagate`), so waiting on a group whose
 * member failed never hangs on the members still running.
 */
import { ImproperlyConfigured } from '../errors.js';
import type { ResultTuple } from '../types.js';
import { AsyncResult, type GetOptions, type ResultSource } from './async-result.js';
import { secondsToMs } from './seconds.js';

/** A member of a group: a task's result, or a nested group's. */
export type ResultNode = AsyncResult<unknown> | GroupResult<unknown[]>;

/** Where a GroupResult revokes its members (the app's remote control, when it has one). */
export interface GroupResultSource extends ResultSource {
  revoke?(ids: readonly string[], options: RevokeOptions): Promise<void>;
}

export interface RevokeOptions {
  terminate?: boolean;
  signal?: string;
}

export class GroupResult<R extends unknown[] = unknown[]> {
  /** The result this group follows in a chain (set by the canvas that produced it). */
  parent: ResultNode | null = null;

  constructor(
    readonly id: string,
    readonly results: readonly ResultNode[],
    protected readonly source: GroupResultSource,
  ) {}

  /** Waits for every member and returns their results in order; rejects on the first failure (with propagate). */
  async get(options: GetOptions = {}): Promise<R> {
    const deadline =
      options.timeout === undefined ? undefined : Date.now() + (secondsToMs('timeout', options.timeout) ?? 0);
    const each = (r: ResultNode): Promise<unknown> => {
      const timeout = deadline === undefined ? undefined : Math.max(0, deadline - Date.now()) / 1000;
      const own: GetOptions = { ...options };
      if (timeout === undefined) delete own.timeout;
      else own.timeout = timeout;
      return r.get(own);
    };
    return (await Promise.all(this.results.map(each))) as R;
  }

  /** Celery's `join`: the same as `get`. */
  join(options: GetOptions = {}): Promise<R> {
    return this.get(options);
  }

  /** How many members finished successfully. */
  async completedCount(): Promise<number> {
    const done = await Promise.all(this.results.map((r) => r.successful()));
    return done.filter(Boolean).length;
  }

  /** Whether every member is ready (SUCCESS, FAILURE or REVOKED). */
  async ready(): Promise<boolean> {
    return (await Promise.all(this.results.map((r) => r.ready()))).every(Boolean);
  }

  /** Whether every member succeeded. */
  async successful(): Promise<boolean> {
    return (await Promise.all(this.results.map((r) => r.successful()))).every(Boolean);
  }

  /** Whether any member failed. */
  async failed(): Promise<boolean> {
    return (await Promise.all(this.results.map((r) => r.failed()))).some(Boolean);
  }

  /** Whether any member is still waiting to finish. */
  async waiting(): Promise<boolean> {
    return !(await this.ready());
  }

  /** Revokes every member (needs the app's remote control). */
  async revoke(options: RevokeOptions = {}): Promise<void> {
    if (!this.source.revoke) {
      throw new ImproperlyConfigured(
        `GroupResult ${this.id}: this app cannot revoke tasks (remote control is not available); ` +
          'revoke the members by id with a worker control client',
      );
    }
    await this.source.revoke(this.leafIds(), options);
  }

  /** Every task id in this group, nested groups flattened. */
  leafIds(): string[] {
    return this.results.flatMap((r) => (r instanceof GroupResult ? r.leafIds() : [r.id]));
  }

  /** Stores the group (`celery-taskset-meta-<id>`) so that `restore` finds it later. */
  async save(): Promise<void> {
    const backend = await this.source.getBackend();
    await backend.saveGroup(this.id, { result: this.asTuple() });
  }

  /** Deletes the saved group. */
  async delete(): Promise<void> {
    const backend = await this.source.getBackend();
    await backend.deleteGroup(this.id);
  }

  /** `[[id, parent], [member tuples]]`, Celery's group tuple. */
  asTuple(): ResultTuple {
    return [[this.id, this.parent ? this.parent.asTuple() : null], this.results.map((r) => r.asTuple())];
  }

  /** Reads a saved group back; null when nothing was saved under this id. */
  static async restore<R extends unknown[] = unknown[]>(
    source: GroupResultSource,
    id: string,
  ): Promise<GroupResult<R> | null> {
    const backend = await source.getBackend();
    const meta = await backend.getGroup(id);
    if (!meta) return null;
    const node = resultFromTuple(source, meta.result);
    return node instanceof GroupResult ? (node as GroupResult<R>) : null;
  }

  get length(): number {
    return this.results.length;
  }

  toString(): string {
    return this.id;
  }
}

/** Rebuilds a result handle from Celery's tuple form (`celery/result.py result_from_tuple`). */
export function resultFromTuple(source: GroupResultSource, tuple: ResultTuple): ResultNode {
  const [[id, parentTuple], members] = tuple;
  const parent = parentTuple ? resultFromTuple(source, parentTuple) : null;
  if (members) {
    const group = new GroupResult(
      id,
      members.map((m) => resultFromTuple(source, m)),
      source,
    );
    group.parent = parent;
    return group;
  }
  const result = new AsyncResult(id, source);
  result.parent = parent;
  return result;
}

export type { GetOptions };
