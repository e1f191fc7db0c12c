/**
 * Indexes over the tasks of an EventsState and the paged queries a dashboard asks: filter by state, name, worker,
 * a time range and text in the arguments; sort by any time or field; one page at a time.
 *
 * Design, for 100,000 tasks answering a page in a few milliseconds:
 * - the default sort (timestamp, newest first) reads the TimeIndex, which keeps every task in that order: with no
 *   filter the page is read directly (O(offset / 512 + limit)); with only state, name or worker values of one
 *   field, whose sets give the exact total, the walk stops once the page is full; with other conditions every
 *   task is tested and counted in one walk, but the page is simply the first matches (no heap, no sort);
 * - state, name and worker each keep a Set of tasks per value (moved in O(1) when a task changes), so a filter
 *   that matches few tasks starts from the smallest matching set instead of every task, and any other sort
 *   selects its page from the matches with a bounded heap of `offset + limit` entries (O(n log k)), unless the
 *   page is deep (then one sort of the matches);
 * - text search skips fields shorter than the text, tests each distinct task name once, and skips the ids when
 *   they are all UUIDs and the text has a character no UUID has.
 * `total` is always exact: a count of the set, or of the walk.
 */
import type { TaskRecord, TaskSnapshot } from './task-record.js';
import type { TimeIndex } from './time-index.js';

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
export const TASK_TIME_FIELDS = ['timestamp', 'sent', 'received', 'started', 'succeeded', 'failed'] as const;
export type TaskTimeField = (typeof TASK_TIME_FIELDS)[number];
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

  /** The values that have tasks. */
  values(): IterableIterator<string> {
    return this.sets.keys();
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
  /** Every task by timestamp, then first sight: the default sort, read in page order. */
  readonly time: TimeIndex<TaskRecord>;
  readonly state: ValueIndex;
  readonly name: ValueIndex;
  readonly worker: ValueIndex;
  /** True when every task id is hex digits and dashes (UUIDs): a search for other text can skip the ids. */
  readonly hexIds?: boolean;
}

type Compare = (a: TaskRecord, b: TaskRecord) => number;

/** Runs a query over the indexes. Throws a RangeError naming the bad option. */
export function queryTasks(indexes: TaskIndexes, query: TaskQuery = {}): TaskPage {
  const offset = checkCount('offset', query.offset ?? 0, Number.MAX_SAFE_INTEGER);
  const limit = checkCount('limit', query.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
  const sortBy = query.sortBy ?? 'timestamp';
  const order = query.order ?? 'desc';
  const compare = comparator(sortBy, order);
  const [scanned, ...others] = indexedFilters(indexes, query);
  const conditions = matcher(query, indexes);
  const wanted = offset + limit;
  if (sortBy === 'timestamp') {
    const page = inTimeOrder(indexes.time, scanned, others, conditions, wanted, order === 'desc');
    if (page !== null) return { total: page.total, offset, limit, tasks: page.tasks.slice(offset, wanted) };
  }
  const test = combine(conditions, membership(others));
  const { total, tasks } = selectPage(
    scanned === undefined ? [indexes.time.page(0, indexes.time.size, false)] : scanned.sets,
    scanned === undefined ? indexes.all.size : scanned.size,
    test,
    wanted,
    compare,
    order === 'desc',
  );
  return { total, offset, limit, tasks: tasks.slice(offset, wanted) };
}

interface Matches {
  readonly total: number;
  /** The first `wanted` matches in page order (fewer when there are fewer). */
  readonly tasks: TaskRecord[];
}

/**
 * A page in the time index's order, when that is cheaper than selecting one from a set; null when not. The
 * index is walked in page order, so the first `wanted` matches are the page: with no filter it is read directly,
 * with only indexed filters of one field (whose sets give the exact total) the walk stops once the page is full,
 * and with other conditions it counts every match but needs no heap.
 */
function inTimeOrder(
  time: TimeIndex<TaskRecord>,
  scanned: IndexedFilter | undefined,
  others: readonly IndexedFilter[],
  conditions: Test | null,
  wanted: number,
  desc: boolean,
): Matches | null {
  if (scanned === undefined && conditions === null) {
    return { total: time.size, tasks: time.page(0, wanted, desc) };
  }
  const n = time.size;
  if (scanned !== undefined) {
    if (others.length === 0 && conditions === null) {
      // Matches are spread through the index: about wanted * n / total tasks are walked to fill the page.
      if (scanned.size === 0 || wanted * n > scanned.size * scanned.size) return null;
      return { total: scanned.size, tasks: firstMatches(time, membership([scanned]), wanted, desc) };
    }
    // A small set is cheaper to scan and sort than the whole index to walk.
    if (scanned.size * 2 < n) return null;
  }
  const test = combine(conditions, membership(scanned === undefined ? others : [scanned, ...others]));
  let total = 0;
  const tasks: TaskRecord[] = [];
  time.scan(desc, (task) => {
    if (test === null || test(task)) {
      total += 1;
      if (tasks.length < wanted) tasks.push(task);
    }
    return true;
  });
  return { total, tasks };
}

/** The first `wanted` tasks passing `test`, walking the index in page order. */
function firstMatches(
  time: TimeIndex<TaskRecord>,
  test: Test | null,
  wanted: number,
  desc: boolean,
): TaskRecord[] {
  const tasks: TaskRecord[] = [];
  if (wanted === 0) return tasks;
  time.scan(desc, (task) => {
    if (test === null || test(task)) tasks.push(task);
    return tasks.length < wanted;
  });
  return tasks;
}

/**
 * A page under any other sort: every task of `sources` is tested; a shallow page keeps only the best `wanted` in
 * a bounded heap while scanning, O(n log wanted); a deep one sorts all matches.
 */
function selectPage(
  sources: readonly (readonly TaskRecord[] | ReadonlySet<TaskRecord>)[],
  size: number,
  test: Test | null,
  wanted: number,
  compare: Compare,
  backwards: boolean,
): Matches {
  let total = 0;
  if (wanted <= size * HEAP_SHARE) {
    // Sets hold tasks roughly in the order they got there, that is in time order, so a newest-first page scans
    // them backwards: most tasks are then rejected by one comparison with the heap's worst entry.
    const heap = new BoundedHeap(wanted, compare);
    for (const source of sources) {
      const tasks: readonly TaskRecord[] = Array.isArray(source)
        ? (source as readonly TaskRecord[])
        : Array.from(source as ReadonlySet<TaskRecord>);
      for (let i = 0; i < tasks.length; i += 1) {
        const task = tasks[backwards ? tasks.length - 1 - i : i] as TaskRecord;
        if (test !== null && !test(task)) continue;
        total += 1;
        heap.push(task);
      }
    }
    return { total, tasks: heap.sorted() };
  }
  const page: TaskRecord[] = [];
  for (const source of sources) {
    for (const task of source) if (test === null || test(task)) page.push(task);
  }
  page.sort(compare);
  return { total: page.length, tasks: page };
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
    values = [...new Set(values)];
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
function matcher(query: TaskQuery, indexes: TaskIndexes): Test | null {
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
    let fields = query.searchIn ?? ['args', 'kwargs'];
    // No UUID contains other characters: when every id is one, the ids need not be read.
    if (indexes.hexIds === true && /[^0-9a-f-]/i.test(query.search))
      fields = fields.filter((f) => f !== 'uuid');
    tests.push(searcher(query.search, fields, indexes.name.values()));
  }
  return combine(...tests);
}

/** The fields the dashboard searches together, read as one lower-cased text per task (TaskRecord.searchText). */
const WHOLE_TEXT: readonly TaskSearchField[] = ['args', 'kwargs', 'result', 'exception'];

/**
 * Case-insensitive substring search. Over args, kwargs, result and exception together (the dashboard's search),
 * one `includes` of the lower-cased text in each task's lower-cased search text, made once per task and kept until
 * those fields change (about 10 MB at 100,000 tasks). Over other field sets, a case-insensitive regular expression
 * of the escaped text per field (a field shorter than the text cannot match and is not read). Names are few and
 * indexed: each distinct name is tested once, and a task's name is then one Set lookup (none when no name matches).
 */

function searcher(search: string, searchIn: readonly TaskSearchField[], names: Iterable<string>): Test {
  const pattern = new RegExp(search.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  const length = search.length;
  const fields = new Set(searchIn);
  let matchingNames: ReadonlySet<string> | null = null;
  if (fields.delete('name')) {
    const matching = new Set([...names].filter((name) => pattern.test(name)));
    if (matching.size > 0) matchingNames = matching;
  }
  const others = [...fields].filter((field) => !WHOLE_TEXT.includes(field));
  if (WHOLE_TEXT.every((field) => fields.has(field)) && others.every((field) => field === 'uuid')) {
    const needle = search.toLowerCase();
    const ids = others.length > 0;
    return (task) =>
      (matchingNames !== null && task.name !== null && matchingNames.has(task.name)) ||
      task.searchText().includes(needle) ||
      (ids && pattern.test(task.uuid));
  }
  const getters = [...fields].map(textGetter);
  return (task) => {
    if (matchingNames !== null && task.name !== null && matchingNames.has(task.name)) return true;
    for (let i = 0; i < getters.length; i += 1) {
      const text = (getters[i] as (t: TaskRecord) => string | null)(task);
      if (text !== null && text.length >= length && pattern.test(text)) return true;
    }
    return false;
  };
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
