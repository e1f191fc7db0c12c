/**
 * The result of a task run in this process (`task.apply()`, or `applyAsync()` with `taskAlwaysEager`), as
 * Celery's `EagerResult`: ready at once, answering from memory, and `get()` re-throws the task's own error (not a
 * RemoteTaskError) when it failed.
 */
import { PROPAGATE_STATES, type ResultMeta, type TaskState } from '../types.js';
import { AsyncResult, type GetOptions, type ResultSource } from './async-result.js';

export class EagerResult<R = unknown> extends AsyncResult<R> {
  constructor(
    id: string,
    source: ResultSource,
    /** The meta as a backend would store it (JSON result, serialized error). */
    private readonly snapshot: ResultMeta,
    /** The value the task returned, or the error it threw, unserialized. */
    private readonly value: unknown,
  ) {
    super(id, source);
  }

  override async meta(): Promise<ResultMeta> {
    return this.snapshot;
  }

  /** The state, without a promise: eager results are known at once. */
  get status(): TaskState {
    return this.snapshot.status;
  }

  /** The returned value, or the error for FAILURE, RETRY and REVOKED (the task's own error object). */
  override async result(): Promise<unknown> {
    return this.value;
  }

  override async get(options: GetOptions & { propagate: false }): Promise<R | Error>;
  override async get(options?: GetOptions): Promise<R>;
  override async get(options: GetOptions = {}): Promise<R | Error> {
    if (PROPAGATE_STATES.has(this.snapshot.status)) {
      const error = this.value instanceof Error ? this.value : new Error(String(this.value));
      if (options.propagate === false) return error;
      throw error;
    }
    return this.value as R;
  }
}
