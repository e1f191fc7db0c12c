/**
 * A handle on a task's result (Celery's `AsyncResult`, `celery/result.py`). Reading methods are async because
 * they ask the result backend; `get()` waits (pub/sub where the backend has it, polling otherwise).
 */
import type { ResultBackend } from '../backends/backend.js';
import type { GroupResult } from './group-result.js';
import { pendingMeta } from '../backends/meta.js';
import { ImproperlyConfigured } from '../errors.js';
import { exceptionFromMeta } from '../protocol/exception.js';
import { secondsToMs } from './seconds.js';
import {
  type ResultMeta,
  type ResultTuple,
  type TaskState,
  isReadyState,
  PROPAGATE_STATES,
  States,
} from '../types.js';

/** Where results are read from: the app. */
export interface ResultSource {
  getBackend(): Promise<ResultBackend>;
  /** Revokes tasks by id (the app's remote control). */
  revoke?(ids: readonly string[], options: { terminate?: boolean; signal?: string }): Promise<void>;
}

export interface GetOptions {
  /** Seconds to wait before rejecting with TimeoutError (as Celery); waits forever when omitted. */
  timeout?: number;
  /** Re-throw a task failure (default true); with false, a failure is returned as its RemoteTaskError. */
  propagate?: boolean;
  /** Polling interval in seconds, for backends without push (default 0.1). */
  interval?: number;
  /** Called with each intermediate state (STARTED, RETRY, custom states such as PROGRESS). */
  onProgress?: (meta: ResultMeta) => void;
  signal?: AbortSignal;
}

export class AsyncResult<R = unknown> {
  /** True when the task was sent with `ignoreResult`: nothing will ever be stored. */
  ignored = false;
  /** The result this one follows in a chain or chord (set by the canvas that sent it), or null. */
  parent: AsyncResult<unknown> | GroupResult<unknown[]> | null = null;

  constructor(
    readonly id: string,
    protected readonly source: ResultSource,
  ) {}

  /** The stored meta, or a PENDING meta when nothing is stored yet. */
  async meta(): Promise<ResultMeta> {
    const backend = await this.source.getBackend();
    return (await backend.get(this.id)) ?? pendingMeta(this.id);
  }

  async state(): Promise<TaskState> {
    return (await this.meta()).status;
  }

  async ready(): Promise<boolean> {
    return isReadyState(await this.state());
  }

  async successful(): Promise<boolean> {
    return (await this.state()) === States.SUCCESS;
  }

  async failed(): Promise<boolean> {
    return (await this.state()) === States.FAILURE;
  }

  /**
   * Revokes the task on every worker (Celery's `AsyncResult.revoke`): a worker holding it (for an ETA, a rate limit
   * or a slot) discards it and stores REVOKED; with `terminate` a running one is ended (the pool's way) with
   * `signal` (default SIGTERM). Workers that start later learn of it from the others (mingle).
   */
  async revoke(options: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    if (!this.source.revoke) {
      throw new ImproperlyConfigured(
        `AsyncResult ${this.id}: cannot revoke without an app (remote control): revoke it with app.control.revoke(id)`,
      );
    }
    await this.source.revoke([this.id], options);
  }

  /**
   * Celery's `result`/`info`: the return value once SUCCESS, the error (a RemoteTaskError) for exception states,
   * the meta of a custom state, or null while PENDING.
   */
  async result(): Promise<unknown> {
    return this.valueOf(await this.meta());
  }

  async traceback(): Promise<string | null> {
    return (await this.meta()).traceback;
  }

  /** Waits for the task to finish and returns its result; rejects with the remote error when it failed. */
  async get(options: GetOptions & { propagate: false }): Promise<R | Error>;
  async get(options?: GetOptions): Promise<R>;
  async get(options: GetOptions = {}): Promise<R | Error> {
    if (this.ignored) {
      throw new ImproperlyConfigured(
        `Task ${this.id} was sent with ignoreResult, so its result is never stored`,
      );
    }
    const backend = await this.source.getBackend();
    const meta = await backend.waitFor(this.id, {
      timeoutMs: secondsToMs('timeout', options.timeout),
      intervalMs: secondsToMs('interval', options.interval),
      onProgress: options.onProgress,
      signal: options.signal,
    });
    if (PROPAGATE_STATES.has(meta.status)) {
      const error = exceptionFromMeta(meta.result, meta.traceback, this.id);
      if (options.propagate === false) return error;
      throw error;
    }
    return meta.result as R;
  }

  /** Deletes the stored result. */
  async forget(): Promise<void> {
    const backend = await this.source.getBackend();
    await backend.forget(this.id);
  }

  /**
   * The results of what this task started (its callbacks, the next link of its chain, tasks it sent), as stored
   * in its meta's `children` once it finished.
   */
  async children(): Promise<(AsyncResult<unknown> | GroupResult<unknown[]>)[]> {
    const { resultFromTuple } = await import('./group-result.js');
    const meta = await this.meta();
    return (meta.children ?? [])
      .filter((c): c is ResultTuple => Array.isArray(c))
      .map((c) => resultFromTuple(this.source, c));
  }

  /** `[[id, parent], null]`, Celery's result tuple. */
  asTuple(): ResultTuple {
    return [[this.id, this.parent ? this.parent.asTuple() : null], null];
  }

  toString(): string {
    return this.id;
  }

  private valueOf(meta: ResultMeta): unknown {
    if (meta.status === States.FAILURE || meta.status === States.REVOKED || meta.status === States.RETRY) {
      // A retry without `exc` stores null: no error to show (Celery's `exception_to_python(None)`).
      if (meta.result === null) return null;
      return exceptionFromMeta(meta.result, meta.traceback, this.id);
    }
    return meta.result;
  }
}
