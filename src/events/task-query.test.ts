import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../types.js';
import { EventsState } from './state.js';
import { TASK_SORT_KEYS, type TaskQuery, type TaskSortKey } from './task-query.js';
import type { TaskSnapshot } from './task-record.js';

const T0 = 1_700_000_000;
const NAMES = ['proj.add', 'proj.mul', 'proj.report'];
const WORKERS = ['w1@host', 'w2@host'];

interface Spec {
  name: number;
  worker: number;
  final: 'succeeded' | 'failed' | 'started' | 'progress' | 'none';
  at: number;
  arg: number;
}

/** Feeds one task's events: received, then (optionally) started and a final event. */
function feed(state: EventsState, id: string, spec: Spec): void {
  const base = { uuid: id, hostname: WORKERS[spec.worker]!, clock: 1, local_received: T0 + spec.at };
  const ev = (subject: string, dt: number, fields: JsonObject = {}) =>
    state.event({ ...base, ...fields, type: `task-${subject}`, timestamp: T0 + spec.at + dt });
  ev('received', 0, { name: NAMES[spec.name]!, args: `(${spec.arg}, 'key-${spec.arg % 7}')`, kwargs: '{}' });
  if (spec.final === 'none') return;
  ev('started', 0.1);
  if (spec.final === 'succeeded')
    ev('succeeded', 0.2 + spec.arg / 1000, { result: '1', runtime: spec.arg / 100 });
  if (spec.final === 'failed') ev('failed', 0.2, { exception: `KeyError('Needle-${spec.arg}')` });
  if (spec.final === 'progress') ev('progress', 0.2, { current: 1 });
}

const specs = fc.array(
  fc.record({
    name: fc.integer({ min: 0, max: 2 }),
    worker: fc.integer({ min: 0, max: 1 }),
    final: fc.constantFrom('succeeded', 'failed', 'started', 'progress', 'none'),
    at: fc.integer({ min: 0, max: 50 }),
    arg: fc.integer({ min: 0, max: 30 }),
  }),
  { maxLength: 120 },
);

const queries = fc.record(
  {
    state: fc.constantFrom('SUCCESS', 'FAILURE', 'STARTED', 'PROGRESS', 'RECEIVED', ['SUCCESS', 'FAILURE']),
    name: fc.constantFrom(...NAMES, [NAMES[0]!, NAMES[2]!]),
    worker: fc.constantFrom(...WORKERS),
    since: fc.integer({ min: T0, max: T0 + 50 }),
    until: fc.integer({ min: T0, max: T0 + 60 }),
    search: fc.constantFrom('key-3', 'KEY-1', "'", 'needle', 'PROJ.M', 'add', "(1, 'key-1')x"),
    searchIn: fc.constantFrom(
      ['args'] as const,
      ['exception'] as const,
      ['args', 'exception'] as const,
      ['name', 'args'] as const,
      ['name'] as const,
      ['args', 'kwargs', 'result', 'exception'] as const,
      ['args', 'kwargs', 'result', 'exception', 'name', 'uuid'] as const,
    ),
    sortBy: fc.constantFrom(...TASK_SORT_KEYS),
    order: fc.constantFrom('asc' as const, 'desc' as const),
    offset: fc.integer({ min: 0, max: 40 }),
    limit: fc.integer({ min: 0, max: 30 }),
  },
  { requiredKeys: [] },
);

/** The obvious implementation: filter everything, sort everything. */
function naive(tasks: readonly TaskSnapshot[], query: TaskQuery, seqOf: Map<TaskSnapshot, number>) {
  const one = <T>(v: T | readonly T[] | undefined) => (v === undefined ? undefined : ([] as T[]).concat(v));
  const states = one(query.state);
  const names = one(query.name);
  const workers = one(query.worker);
  const field = query.timeField ?? 'timestamp';
  const needle = query.search?.toLowerCase();
  const matches = tasks.filter((t) => {
    if (states && !states.includes(t.state)) return false;
    if (names && !names.includes(t.name ?? '')) return false;
    if (workers && !workers.includes(t.worker ?? '')) return false;
    const time = t[field];
    if ((query.since !== undefined || query.until !== undefined) && time === null) return false;
    if (query.since !== undefined && time! < query.since) return false;
    if (query.until !== undefined && time! >= query.until) return false;
    if (needle) {
      const fields = query.searchIn ?? ['args', 'kwargs'];
      if (!fields.some((f) => (t[f] ?? '').toLowerCase().includes(needle))) return false;
    }
    return true;
  });
  const key: TaskSortKey = query.sortBy ?? 'timestamp';
  const sign = (query.order ?? 'desc') === 'asc' ? 1 : -1;
  const sorted = [...matches].sort((a, b) => {
    const x = a[key];
    const y = b[key];
    if (x === null && y !== null) return 1;
    if (y === null && x !== null) return -1;
    if (x !== null && y !== null && x !== y) return sign * (x < y ? -1 : 1);
    return sign * (seqOf.get(a)! - seqOf.get(b)!);
  });
  const offset = query.offset ?? 0;
  return {
    total: matches.length,
    ids: sorted.slice(offset, offset + (query.limit ?? 50)).map((t) => t.uuid),
  };
}

describe('EventsState.queryTasks', () => {
  it('gives the same page and total as filtering and sorting everything, for any tasks and query', () => {
    fc.assert(
      fc.property(specs, queries, (list, query) => {
        const state = new EventsState();
        list.forEach((spec, i) => feed(state, `t${i}`, spec));
        const seqOf = new Map([...state.tasks.values()].map((task, i) => [task, i]));
        const page = state.queryTasks(query);
        const want = naive([...state.tasks.values()], query, seqOf);
        expect({ total: page.total, ids: page.tasks.map((t) => t.uuid) }).toEqual(want);
      }),
      { numRuns: 400 },
    );
  });

  it('selects a shallow page from many matches (the bounded heap) exactly as a full sort would', () => {
    const state = new EventsState();
    for (let i = 0; i < 2_000; i += 1) {
      feed(state, `t${i}`, {
        name: i % 3,
        worker: i % 2,
        final: 'succeeded',
        at: (i * 7919) % 50,
        arg: i % 31,
      });
    }
    const seqOf = new Map([...state.tasks.values()].map((task, i) => [task, i]));
    for (const query of [
      { limit: 10 },
      { sortBy: 'runtime', order: 'asc', offset: 20, limit: 10 },
      { sortBy: 'name', worker: 'w2@host', limit: 25 },
    ] as const) {
      const page = state.queryTasks(query);
      const want = naive([...state.tasks.values()], query, seqOf);
      expect({ total: page.total, ids: page.tasks.map((t) => t.uuid) }).toEqual(want);
    }
  });

  it('pages through failures of one task name, newest first, with missing values last', () => {
    const state = new EventsState();
    for (let i = 0; i < 30; i += 1)
      feed(state, `t${i}`, { name: i % 2, worker: 0, final: 'failed', at: i, arg: i });
    const first = state.queryTasks({ state: 'FAILURE', name: 'proj.add', limit: 5 });
    expect(first.total).toBe(15);
    expect(first.tasks.map((t) => t.uuid)).toEqual(['t28', 't26', 't24', 't22', 't20']);
    const third = state.queryTasks({ state: 'FAILURE', name: 'proj.add', limit: 5, offset: 10 });
    expect(third.tasks.map((t) => t.uuid)).toEqual(['t8', 't6', 't4', 't2', 't0']);
    const byRuntime = state.queryTasks({ sortBy: 'runtime', limit: 3 });
    expect(byRuntime.tasks.every((t) => t.runtime === null)).toBe(true);
  });

  it('keeps the default newest-first order as events move tasks, arrive late, and tasks are evicted', () => {
    const state = new EventsState({ maxTasks: 4 });
    const ev = (uuid: string, subject: string, at: number, fields: JsonObject = {}) =>
      state.event({
        uuid,
        hostname: 'w1@host',
        clock: 1,
        local_received: T0 + at,
        timestamp: T0 + at,
        type: `task-${subject}`,
        ...fields,
      });
    const newest = (query: TaskQuery = {}) => state.queryTasks(query).tasks.map((t) => t.uuid);
    ev('a', 'received', 0, { name: 'proj.add' });
    ev('b', 'received', 1, { name: 'proj.add' });
    ev('c', 'received', 2, { name: 'proj.mul' });
    expect(newest()).toEqual(['c', 'b', 'a']);
    // a finishes last: its timestamp moves it to the top.
    ev('a', 'succeeded', 10, { result: '1' });
    expect(newest()).toEqual(['a', 'c', 'b']);
    // A late, weaker event still merges its timestamp (Celery merges every field of it): a moves back.
    ev('a', 'started', 0.5);
    expect(state.getTask('a')!.timestamp).toBe(T0 + 0.5);
    expect(newest()).toEqual(['c', 'b', 'a']);
    // Equal timestamps: the later seen first, newest first.
    ev('d', 'received', 2, { name: 'proj.add' });
    expect(newest()).toEqual(['d', 'c', 'b', 'a']);
    expect(newest({ order: 'asc', offset: 1, limit: 2 })).toEqual(['b', 'c']);
    // Past maxTasks the least recently created goes, from the order too.
    ev('e', 'received', 1.5, { name: 'proj.add' });
    expect(newest()).toEqual(['d', 'c', 'e', 'b']);
    expect(state.queryTasks({}).total).toBe(4);
    expect(newest({ name: 'proj.add' })).toEqual(['d', 'e', 'b']);
    expect(newest({ name: ['proj.add', 'proj.add'] })).toEqual(['d', 'e', 'b']);
    expect(state.queryTasks({ name: ['proj.add', 'proj.add'] }).total).toBe(3);
    state.clearTasks(false);
    expect(newest()).toEqual([]);
  });

  it('searches args, kwargs, result and exception together, sees a field that changed, never across fields', () => {
    const state = new EventsState();
    const dashboard = ['args', 'kwargs', 'result', 'exception'] as const;
    const count = (search: string) => state.queryTasks({ search, searchIn: dashboard }).total;
    feed(state, 'a', { name: 0, worker: 0, final: 'started', at: 1, arg: 5 });
    expect(count("KEY-5'")).toBe(1);
    expect(count('needle-5')).toBe(0);
    state.event({
      uuid: 'a',
      hostname: WORKERS[0]!,
      clock: 2,
      local_received: T0 + 2,
      type: 'task-failed',
      timestamp: T0 + 2,
      exception: "KeyError('Needle-5')",
    });
    expect(count('needle-5')).toBe(1);
    expect(count('{}keyerror')).toBe(0); // kwargs then exception: two fields, no match across them
  });

  it('searches ids whether or not they are all UUIDs (UUID ids are skipped for text no UUID can hold)', () => {
    const state = new EventsState({ maxTasks: 2 });
    const spec = { name: 0, worker: 0, final: 'succeeded', at: 1, arg: 1 } as const;
    feed(state, '0a1b2c3d-0000-4000-8000-000000000001', spec);
    expect(state.queryTasks({ search: '0A1B', searchIn: ['uuid'] }).total).toBe(1);
    expect(state.queryTasks({ search: 'key-1', searchIn: ['uuid', 'args'] }).total).toBe(1);
    expect(state.queryTasks({ search: 'key-1', searchIn: ['uuid'] }).total).toBe(0);
    feed(state, 'custom-key-9', { ...spec, at: 2, arg: 9 });
    expect(state.queryTasks({ search: 'M-KEY', searchIn: ['uuid'] }).total).toBe(1);
    // The custom id is evicted by the next task: every id is a UUID again.
    feed(state, '0a1b2c3d-0000-4000-8000-000000000002', { ...spec, at: 3 });
    feed(state, '0a1b2c3d-0000-4000-8000-000000000003', { ...spec, at: 4 });
    expect(state.queryTasks({ search: 'key', searchIn: ['uuid'] }).total).toBe(0);
    expect(state.queryTasks({ search: '-000000000003', searchIn: ['uuid'] }).total).toBe(1);
  });

  it('rejects bad options with a message naming them', () => {
    const state = new EventsState();
    expect(() => state.queryTasks({ limit: -1 })).toThrow(
      'Task query option "limit" must be an integer from 0 to 10000, got -1',
    );
    expect(() => state.queryTasks({ offset: 1.5 })).toThrow(/"offset"/);
    expect(() => state.queryTasks({ sortBy: 'bogus' as TaskSortKey })).toThrow(
      /"sortBy" must be one of timestamp, sent, received/,
    );
  });

  it('lists tasks by the Lamport order of their latest event (Celery tasks_by_time)', () => {
    const state = new EventsState();
    const ev = (uuid: string, subject: string, clock: number) =>
      state.event({
        uuid,
        hostname: 'w1@host',
        clock,
        local_received: T0,
        timestamp: T0,
        type: `task-${subject}`,
      });
    ev('a', 'received', 1);
    ev('b', 'received', 2);
    ev('a', 'started', 3);
    ev('c', 'received', 4);
    expect(state.tasksByTime().map((t) => t.uuid)).toEqual(['c', 'a', 'b']);
    expect(state.tasksByTime({ limit: 2 }).map((t) => t.uuid)).toEqual(['c', 'a']);
    expect(state.tasksByTime({ reverse: false }).map((t) => t.uuid)).toEqual(['b', 'a', 'c']);
  });
});
