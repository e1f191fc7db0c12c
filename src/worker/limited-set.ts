/**
 * A set of ids that cannot grow without bound, as Celery's `LimitedSet` (`celery/utils/collections.py`): at most
 * `maxlen` ids (adding one more forgets the oldest), each forgotten `expires` seconds after it was added (adding
 * an id again renews it). The worker keeps its revoked ids (50,000 for 3 h, `celery/worker/state.py`) and its
 * recently succeeded ids (1,000 for 3 h) in one.
 *
 * One difference from Celery, on purpose: Celery drops expired ids only when the set is full or on `purge()`, so
 * below `maxlen` a revoke never expires there; here an expired id is absent at once (`has()` checks its age), and
 * expired ids are dropped as new ones are added.
 */

export interface LimitedSetOptions {
  /** Most ids kept; 0 = no limit. */
  readonly maxlen?: number;
  /** Seconds an id is kept after it was (last) added; 0 = forever. */
  readonly expires?: number;
  /** Milliseconds since the epoch (injectable for tests). */
  readonly now?: () => number;
}

/** Celery's defaults for revoked ids (`REVOKES_MAX`, `REVOKE_EXPIRES`). */
export const REVOKES_MAX = 50_000;
export const REVOKE_EXPIRES = 10_800;
/** Celery's defaults for the ids of recently succeeded tasks (`SUCCESSFUL_MAX`, `SUCCESSFUL_EXPIRES`). */
export const SUCCESSFUL_MAX = 1000;
export const SUCCESSFUL_EXPIRES = 10_800;

export class LimitedSet implements Iterable<string> {
  readonly maxlen: number;
  readonly expires: number;
  /** id -> when it was added (ms). A Map keeps insertion order, so the oldest entry comes first. */
  private readonly data = new Map<string, number>();
  private readonly now: () => number;

  constructor(options: LimitedSetOptions = {}) {
    this.maxlen = options.maxlen ?? 0;
    this.expires = options.expires ?? 0;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.maxlen) || this.maxlen < 0) {
      throw new RangeError(`LimitedSet maxlen must be a non-negative integer, got ${this.maxlen}`);
    }
    if (!(this.expires >= 0))
      throw new RangeError(`LimitedSet expires cannot be negative, got ${this.expires}`);
  }

  /** Ids held now (expired ones not yet dropped are counted until the next add or purge). */
  get size(): number {
    return this.data.size;
  }

  /**
   * Adds an id, or renews it. `at` (ms since the epoch) is when it was added elsewhere, for ids merged from
   * another worker or from storage; an id older than `expires` is not added.
   */
  add(id: string, at: number = this.now()): void {
    if (this.isExpired(at, this.now())) return;
    this.data.delete(id);
    this.data.set(id, at);
    this.purge();
  }

  /** Adds many ids at once (`revoke([...])`), with one purge. */
  update(ids: Iterable<string>): void {
    const now = this.now();
    for (const id of ids) {
      this.data.delete(id);
      this.data.set(id, now);
    }
    this.purge(now);
  }

  has(id: string): boolean {
    const at = this.data.get(id);
    if (at === undefined) return false;
    if (!this.isExpired(at, this.now())) return true;
    this.data.delete(id);
    return false;
  }

  discard(id: string): void {
    this.data.delete(id);
  }

  clear(): void {
    this.data.clear();
  }

  /**
   * Drops the oldest ids past `maxlen`, then the expired ones from the oldest on. Ids merged with an older `at`
   * than ids already held sit behind them, so they are dropped by age only when `has()` finds them.
   */
  purge(now: number = this.now()): void {
    if (this.maxlen > 0) {
      for (const id of this.data.keys()) {
        if (this.data.size <= this.maxlen) break;
        this.data.delete(id);
      }
    }
    if (this.expires > 0) {
      for (const [id, at] of this.data) {
        if (!this.isExpired(at, now)) break;
        this.data.delete(id);
      }
    }
  }

  /** Ids and when they were added (ms since the epoch), oldest first: what a worker hands on (mingle, storage). */
  entries(): [string, number][] {
    const now = this.now();
    return [...this.data].filter(([, at]) => !this.isExpired(at, now));
  }

  [Symbol.iterator](): Iterator<string> {
    const ids = this.entries().map(([id]) => id);
    return ids[Symbol.iterator]();
  }

  private isExpired(at: number, now: number): boolean {
    return this.expires > 0 && now - at >= this.expires * 1000;
  }
}
