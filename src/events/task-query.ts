/**
 * Indexes over the tasks of an EventsState and the paged queries a dashboard asks: filter by state, name, worker,
 * a time range and text in the arguments; sort by any time or field; one page at a time.
 *
 * Design, for 100,000 tasks answering a page in a few milliseconds: state, name and worker each keep a Set of
 * tasks per value (moved in O(1) when a task changes), so a filter starts from the smallest matching set instead
 * of every task; the remaining conditions are checked while scanning that set; the page is selected with a
 * bounded heap of `offset + limit` entries (O(n log k)) rather than by sorting every match, unless the page is
 * deep. `total` is exact (the scan counts every match).
 */
import type { TaskRecord, TaskSnapshot } from './task-record.js';

/** Fields a page can be sorted by. Times sort as numbers; missing values always come last. */
export const TASK_SORT_KEYS = [
  'timestamp',
  'sent',
  'received',
  'started',
  'succeeded',
  'failed',
  'retried',
  'revoked',
  'rejected',
  'runtime',
  'retries',
  'clock',
  'name',
  'state',
  'worker',
  'uuid',
] as const;
export type TaskSortKey = (typeof TASK_SORT_KEYS)[number];

/** Time fields a range can apply to. */
export type TaskTimeField = 'timestamp' | 'sent' | 'received' | 'started' | 'succeeded' | 'failed';
/** Text fields `search` can look in. */
export type TaskSearchField = 'args' | 'kwargs' | 'result' | 'exception' | 'uuid' | 'name';

export interface TaskQuery {
  /** One state or any of several (`'FAILURE'`, `['SUCCESS', 'FAILURE']`, custom states too). */
  readonly state?: string | readonly string[];
  /** Exact task name(s). */
  readonly name?: string | readonly string[];
  /** Worker hostname(s): the worker of the task's last worker-side event. */
  readonly worker?: string | readonly string[];
  /** Tasks of one canvas: those whose root id is this. */
  readonly rootId?: string;
  /** The time field `since`/`until` apply to; default `timestamp` (the last state change). */
  readonly timeField?: TaskTimeField;
  /** Seconds since the epoch, inclusive. A task without the time field does not match a range. */
  readonly since?: number;
  /** Seconds since the epoch, exclusive. */
  readonly until?: number;
  /** Case-insensitive substring looked for in `searchIn` (default: args and kwargs). */
  readonly search?: string;
  readonly searchIn?: readonly TaskSearchField[];
  /** Default `timestamp`. */
  readonly sortBy?: TaskSortKey;
  /** Default `desc` (newest first). */
  readonly order?: 'asc' | 'desc';
  /** Default 0. */
  readonly offset?: number;
  /** Default 50, at most 10,000. */
  readonly limit?: number;
}

export interface TaskPage {
  /** How many tasks match the filters (all pages). */
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly tasks: readonly TaskSnapshot[];
}

const MAX_LIMIT = 10_000;
const DEFAULT_LIMIT = 50;
/** Pages deeper than this share of the matches are cut from one full sort instead of a heap. */
const HEAP_SHARE = 0.25;

/** Sets of tasks per value of one field, each task under at most one value. */
export class ValueIndex {
  private readonly sets = new Map<string, Set<TaskRecord>>();

  move(task: TaskRecord, from: string | null, to: string | null): void {
    if (from === to) return;
    if (from !== null) {
      const set = this.sets.get(from);
      set?.delete(task);
      if (set?.size === 0) this.sets.delete(from);
    }
    if (to !== null) {
      let set = this.sets.get(to);
      if (!set) this.sets.set(to, (set = new Set()));
      set.add(task);
    }
  }

  get(value: string): ReadonlySet<TaskRecord> | undefined {
    return this.sets.get(value);
  }

  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [value, set] of this.sets) out[value] = set.size;
    return out;
  }

  clear(): void {
    this.sets.clear();
  }
}

export interface TaskIndexes {
  readonly all: ReadonlyMap<string, TaskRecord>;
  readonly state: ValueIndex;
  readonly name: ValueIndex;
  readonly worker: ValueIndex;
}

type Compare = (a: TaskRecord, b: TaskRecord) => number;

/** Runs a query over the indexes. Throws a RangeError naming the bad option. */
export function queryTasks(indexes: TaskIndexes, query: TaskQuery = {}): TaskPage {
  const offset = checkCount('offset', query.offset ?? 0, Number.MAX_SAFE_INTEGER);
  const limit = checkCount('limit', query.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
  const compare = comparator(query.sortBy ?? 'timestamp', query.order ?? 'desc');
  const [scanned, ...others] = indexedFilters(indexes, query);
  const test = combine(matcher(query), membership(others));
  const sets = scanned === undefined ? [indexes.all.values()] : scanned.sets;
  const size = scanned === undefined ? indexes.all.size : scanned.size;
  const wanted = offset + limit;
  let total = 0;
  let page: TaskRecord[];
  if (wanted <= size * HEAP_SHARE) {
    // A shallow page: keep only the best `wanted` while scanning, O(n log wanted). Sets hold tasks roughly in the
    // order they got there, that is in time order, so a newest-first page scans them backwards: most tasks are
    // then rejected by one comparison with the heap's worst entry instead of replacing it.
    const heap = new BoundedHeap(wanted, compare);
    const backwards = (query.order ?? 'desc') === 'desc';
    for (const set of sets) {
      const tasks = Array.from(set);
      for (let i = 0; i < tasks.length; i += 1) {
        const task = tasks[backwards ? tasks.length - 1 - i : i] as TaskRecord;
        if (test !== null && !test(task)) continue;
        total += 1;
        heap.push(task);
      }
    }
    page = heap.sorted();
  } else {
    page = [];
    for (const set of sets) {
      for (const task of set) {
        if (test === null || test(task)) page.push(task);
      }
    }
    total = page.length;
    page.sort(compare);
  }
  return { total, offset, limit, tasks: page.slice(offset, wanted) };
}

function checkCount(option: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new RangeError(`Task query option "${option}" must be an integer from 0 to ${max}, got ${value}`);
  }
  return value;
}

function list(value: string | readonly string[] | undefined): readonly string[] | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? [value] : value;
}

type Test = (task: TaskRecord) => boolean;

interface IndexedFilter {
  readonly values: readonly string[];
  readonly sets: readonly ReadonlySet<TaskRecord>[];
  readonly size: number;
  readonly field: (task: TaskRecord) => string | null;
}

function indexedFilters(indexes: TaskIndexes, query: TaskQuery): IndexedFilter[] {
  const filters: IndexedFilter[] = [];
  const add = (
    values: readonly string[] | undefined,
    index: ValueIndex,
    field: (t: TaskRecord) => string | null,
  ) => {
    if (values === undefined) return;
    const sets = values.flatMap((value) => index.get(value) ?? []);
    filters.push({ values, sets, size: sets.reduce((sum, set) => sum + set.size, 0), field });
  };
  add(list(query.state), indexes.state, (t) => t.state);
  add(list(query.name), indexes.name, (t) => t.name);
  add(list(query.worker), indexes.worker, (t) => t.worker);
  return filters.sort((a, b) => a.size - b.size);
}

/** Membership checks for the indexed filters other than the scanned one (the smallest). */
function membership(rest: readonly IndexedFilter[]): Test | null {
  if (rest.length === 0) return null;
  const checks = rest.map(({ values, field }) => ({ allowed: new Set(values), field }));
  return (task) => checks.every(({ allowed, field }) => allowed.has(field(task) ?? '\u0000'));
}

function combine(...tests: (Test | null)[]): Test | null {
  const present = tests.filter((test): test is Test => test !== null);
  if (present.length === 0) return null;
  if (present.length === 1) return present[0] as Test;
  return (task) => present.every((test) => test(task));
}

/** The non-indexed conditions: canvas root, time range and text; null when there are none. */
function matcher(query: TaskQuery): Test | null {
  const tests: Test[] = [];
  if (query.rootId !== undefined) tests.push((task) => task.rootId === query.rootId);
  if (query.since !== undefined || query.until !== undefined) {
    const time = timeGetter(query.timeField ?? 'timestamp');
    const since = query.since ?? -Infinity;
    const until = query.until ?? Infinity;
    tests.push((task) => {
      const at = time(task);
      return at !== null && at >= since && at < until;
    });
  }
  if (query.search !== undefined && query.search !== '') {
    // A case-insensitive regular expression tests each field without allocating a lower-cased copy.
    const pattern = new RegExp(query.search.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
    const fields = (query.searchIn ?? ['args', 'kwargs']).map(textGetter);
    tests.push((task) => fields.some((field) => pattern.test(field(task) ?? '')));
  }
  return combine(...tests);
}

type Key = number | string | null;

/** Order by the key (missing values last whatever the direction), then by first sight, same direction. */
function comparator(sortBy: TaskSortKey, order: 'asc' | 'desc'): Compare {
  if (!(TASK_SORT_KEYS as readonly string[]).includes(sortBy)) {
    throw new RangeError(
      `Task query option "sortBy" must be one of ${TASK_SORT_KEYS.join(', ')}, got ${sortBy}`,
    );
  }
  if (order !== 'asc' && order !== 'desc') {
    throw new RangeError(`Task query option "order" must be "asc" or "desc", got ${String(order)}`);
  }
  const sign = order === 'asc' ? 1 : -1;
  const key = sortGetter(sortBy);
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    if (x === y) return sign * (a.seq - b.seq);
    if (x === null) return 1;
    if (y === null) return -1;
    return sign * (x < y ? -1 : 1);
  };
}

/** One small function per key, so that each comparison reads a fixed property (fast in V8). */
function sortGetter(key: TaskSortKey): (task: TaskRecord) => Key {
  switch (key) {
    case 'retries':
      return (t) => t.retries;
    case 'clock':
      return (t) => t.clock;
    case 'runtime':
      return (t) => t.runtime;
    case 'name':
      return (t) => t.name;
    case 'state':
      return (t) => t.state;
    case 'worker':
      return (t) => t.worker;
    case 'uuid':
      return (t) => t.uuid;
    default:
      return timeGetter(key);
  }
}

function timeGetter(
  key: TaskTimeField | 'retried' | 'revoked' | 'rejected',
): (task: TaskRecord) => number | null {
  switch (key) {
    case 'sent':
      return (t) => t.sent;
    case 'received':
      return (t) => t.received;
    case 'started':
      return (t) => t.started;
    case 'succeeded':
      return (t) => t.succeeded;
    case 'failed':
      return (t) => t.failed;
    case 'retried':
      return (t) => t.retried;
    case 'revoked':
      return (t) => t.revoked;
    case 'rejected':
      return (t) => t.rejected;
    default:
      return (t) => t.timestamp;
  }
}

function textGetter(key: TaskSearchField): (task: TaskRecord) => string | null {
  switch (key) {
    case 'args':
      return (t) => t.args;
    case 'kwargs':
      return (t) => t.kwargs;
    case 'result':
      return (t) => t.result;
    case 'exception':
      return (t) => t.exception;
    case 'uuid':
      return (t) => t.uuid;
    default:
      return (t) => t.name;
  }
}

/** Keeps the `size` first items under `compare`: a max-heap on the worst kept item. */
export class BoundedHeap<T> {
  private readonly items: T[] = [];

  constructor(
    private readonly size: number,
    private readonly compare: (a: T, b: T) => number,
  ) {}

  push(item: T): void {
    const items = this.items;
    if (this.size === 0) return;
    if (items.length < this.size) {
      items.push(item);
      this.up(items.length - 1);
    } else if (this.compare(item, items[0] as T) < 0) {
      items[0] = item;
      this.down(0);
    }
  }

  sorted(): T[] {
    return [...this.items].sort(this.compare);
  }

  private up(index: number): void {
    const items = this.items;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.compare(items[index] as T, items[parent] as T) <= 0) return;
      [items[index], items[parent]] = [items[parent] as T, items[index] as T];
      index = parent;
    }
  }

  private down(index: number): void {
    const items = this.items;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let worst = index;
      if (left < items.length && this.compare(items[left] as T, items[worst] as T) > 0) worst = left;
      if (right < items.length && this.compare(items[right] as T, items[worst] as T) > 0) worst = right;
      if (worst === index) return;
      [items[index], items[worst]] = [items[worst] as T, items[index] as T];
      index = worst;
    }
  }
}
