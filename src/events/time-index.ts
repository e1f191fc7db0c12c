/**
 * The tasks of an EventsState in the order of the dashboard's default table: by `timestamp` (the time of the
 * task's last state change), then by first sight (`seq`), kept sorted as events arrive and move a task's
 * timestamp. The newest page is then read in O(page) instead of being selected from every task, and a filtered
 * scan visits tasks in page order, so it can stop once it has the page.
 *
 * Structure: a list of sorted chunks of at most CHUNK tasks. Events arrive mostly in time order, so adding a task
 * is usually an append to the last chunk; any other add, and every removal, is two binary searches (over the
 * chunks' last tasks, then within one chunk) and a splice within that chunk: O(log n + CHUNK). A chunk that grows
 * past CHUNK is split in two; one that shrinks below a quarter of it is merged with its successor when both fit.
 *
 * The index compares tasks by their current `timestamp`, so a caller that changes a task's timestamp must call
 * `move(task, before)` right after (EventsState does it once per event). The task being moved is recognised by
 * identity while its old position is looked up. Tasks without a number timestamp (null or NaN) are kept apart,
 * by `seq`, and come last in both directions, as the query's comparator puts missing values last.
 */

/** What the index reads of a task: its sort key and its creation sequence number (unique). */
export interface Timed {
  readonly timestamp: number | null;
  readonly seq: number;
}

/** Largest chunk before a split: big enough to keep the chunk list short, small enough for cheap splices. */
const CHUNK = 512;

export class TimeIndex<T extends Timed> {
  private chunks: T[][] = [];
  /** Tasks without a number timestamp, by seq. */
  private readonly untimed: T[] = [];
  private timed = 0;

  get size(): number {
    return this.timed + this.untimed.length;
  }

  add(task: T): void {
    const key = task.timestamp;
    if (!isKey(key)) {
      this.untimed.splice(seqPosition(this.untimed, task.seq), 0, task);
      return;
    }
    this.timed += 1;
    const chunks = this.chunks;
    const last = chunks[chunks.length - 1];
    if (last === undefined) {
      chunks.push([task]);
      return;
    }
    if (!isBefore(key, task.seq, last[last.length - 1] as T)) {
      // The usual case: the newest task of all.
      last.push(task);
      if (last.length > CHUNK) this.split(chunks.length - 1);
      return;
    }
    const at = this.chunkOf(key, task.seq, task);
    const chunk = chunks[at] as T[];
    chunk.splice(lowerBound(chunk, key, task.seq, task), 0, task);
    if (chunk.length > CHUNK) this.split(at);
  }

  /** Removes `task`, which was added (or last moved) while its timestamp was `key`. */
  remove(task: T, key: number | null = task.timestamp): void {
    if (!isKey(key)) {
      const index = this.untimed.indexOf(task);
      if (index !== -1) this.untimed.splice(index, 1);
      return;
    }
    let at = this.chunkOf(key, task.seq, task);
    let chunk = this.chunks[at];
    let index = chunk === undefined ? -1 : lowerBound(chunk, key, task.seq, task);
    if (chunk === undefined || chunk[index] !== task) {
      // Not where its key says: a timestamp changed without `move`. Find it the slow way rather than corrupt.
      at = this.chunks.findIndex((c) => c.includes(task));
      chunk = this.chunks[at];
      if (chunk === undefined) return;
      index = chunk.indexOf(task);
    }
    chunk.splice(index, 1);
    this.timed -= 1;
    if (chunk.length === 0) this.chunks.splice(at, 1);
    else if (chunk.length < CHUNK / 4) this.mergeNext(at);
  }

  /** Re-files `task` after its timestamp changed from `before`. */
  move(task: T, before: number | null): void {
    if (before === task.timestamp || (!isKey(before) && !isKey(task.timestamp))) return;
    this.remove(task, before);
    this.add(task);
  }

  /** `count` tasks from `offset` in order (newest first when `desc`). */
  page(offset: number, count: number, desc: boolean): T[] {
    const out: T[] = [];
    let skip = offset;
    const chunks = this.chunks;
    for (let c = 0; c < chunks.length && out.length < count; c += 1) {
      const chunk = chunks[desc ? chunks.length - 1 - c : c] as T[];
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      for (let i = skip; i < chunk.length && out.length < count; i += 1) {
        out.push(chunk[desc ? chunk.length - 1 - i : i] as T);
      }
      skip = 0;
    }
    const untimed = this.untimed;
    for (let i = skip; i < untimed.length && out.length < count; i += 1) {
      out.push(untimed[desc ? untimed.length - 1 - i : i] as T);
    }
    return out;
  }

  /** Calls `visit` with each task in order (newest first when `desc`) until it returns false. */
  scan(desc: boolean, visit: (task: T) => boolean): void {
    const chunks = this.chunks;
    for (let c = 0; c < chunks.length; c += 1) {
      const chunk = chunks[desc ? chunks.length - 1 - c : c] as T[];
      for (let i = 0; i < chunk.length; i += 1) {
        if (!visit(chunk[desc ? chunk.length - 1 - i : i] as T)) return;
      }
    }
    const untimed = this.untimed;
    for (let i = 0; i < untimed.length; i += 1) {
      if (!visit(untimed[desc ? untimed.length - 1 - i : i] as T)) return;
    }
  }

  clear(): void {
    this.chunks = [];
    this.untimed.length = 0;
    this.timed = 0;
  }

  /** The first chunk whose last task is not before (key, seq); the last chunk when every one is. */
  private chunkOf(key: number, seq: number, task: T): number {
    const chunks = this.chunks;
    let low = 0;
    let high = chunks.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      const chunk = chunks[mid] as T[];
      if (before(chunk[chunk.length - 1] as T, key, seq, task)) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private split(at: number): void {
    const chunk = this.chunks[at] as T[];
    this.chunks.splice(at + 1, 0, chunk.splice(chunk.length >> 1));
  }

  private mergeNext(at: number): void {
    const chunk = this.chunks[at] as T[];
    const next = this.chunks[at + 1];
    if (next !== undefined && chunk.length + next.length <= CHUNK) {
      this.chunks[at] = chunk.concat(next);
      this.chunks.splice(at + 1, 1);
    }
  }
}

function isKey(value: number | null): value is number {
  return value !== null && !Number.isNaN(value);
}

/** Whether (key, seq) sorts before `other`. */
function isBefore(key: number, seq: number, other: Timed): boolean {
  const k = other.timestamp as number;
  return key < k || (key === k && seq < other.seq);
}

/** Whether `item` sorts strictly before (key, seq); `task` itself (whose timestamp may have moved) never does. */
function before<T extends Timed>(item: T, key: number, seq: number, task: T): boolean {
  if (item === task) return false;
  const k = item.timestamp as number;
  return k < key || (k === key && item.seq < seq);
}

/** The first index in a sorted chunk whose task is not before (key, seq). */
function lowerBound<T extends Timed>(chunk: readonly T[], key: number, seq: number, task: T): number {
  let low = 0;
  let high = chunk.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (before(chunk[mid] as T, key, seq, task)) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Where a task with `seq` goes in a list sorted by seq. */
function seqPosition(list: readonly Timed[], seq: number): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((list[mid] as Timed).seq < seq) low = mid + 1;
    else high = mid;
  }
  return low;
}
