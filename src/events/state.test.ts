import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../types.js';
import { EventsState, type DriftWarning } from './state.js';
import type { WorkerSnapshot } from './worker-record.js';

const T0 = 1_700_000_000;
let clockTick = 0;

/** A prepared event (clock and local_received set, as a receiver hands them on). */
function task(subject: string, uuid: string, at: number, fields: JsonObject = {}): JsonObject {
  return {
    hostname: subject === 'sent' ? 'gen7@client' : 'w1@host',
    utcoffset: 0,
    pid: 7,
    clock: ++clockTick,
    uuid,
    ...fields,
    timestamp: T0 + at,
    type: `task-${subject}`,
    local_received: T0 + at + 0.01,
  };
}

function worker(subject: string, hostname: string, at: number, fields: JsonObject = {}): JsonObject {
  return {
    hostname,
    utcoffset: 0,
    pid: 42,
    clock: ++clockTick,
    freq: 2,
    active: 0,
    processed: 0,
    loadavg: [0.1, 0.2, 0.3],
    sw_ident: 'py-celery',
    sw_ver: '5.2.6',
    sw_sys: 'Linux',
    ...fields,
    timestamp: T0 + at,
    type: `worker-${subject}`,
    local_received: T0 + at,
  };
}

const received = (uuid: string, at: number, fields: JsonObject = {}) =>
  task('received', uuid, at, { name: 'proj.add', args: '(2, 2)', kwargs: '{}', retries: 0, ...fields });

describe('EventsState: ordering and precedence', () => {
  const cases: { title: string; events: string[]; state: string }[] = [
    { title: 'in order', events: ['received', 'started', 'succeeded'], state: 'SUCCESS' },
    { title: 'reversed', events: ['succeeded', 'started', 'received'], state: 'SUCCESS' },
    { title: 'failure after success does not win', events: ['succeeded', 'failed'], state: 'SUCCESS' },
    { title: 'success after failure wins', events: ['failed', 'succeeded'], state: 'SUCCESS' },
    { title: 'a custom state follows STARTED', events: ['started', 'progress'], state: 'PROGRESS' },
    {
      title: 'a late STARTED does not undo a custom state',
      events: ['progress', 'started'],
      state: 'PROGRESS',
    },
    {
      title: 'a custom state never follows a final one',
      events: ['succeeded', 'progress'],
      state: 'SUCCESS',
    },
    { title: 'REVOKED beats STARTED', events: ['started', 'revoked'], state: 'REVOKED' },
    // REJECTED ranks below RECEIVED in Celery's precedence, so a reject after receipt leaves RECEIVED.
    { title: 'REJECTED after RECEIVED stays RECEIVED', events: ['received', 'rejected'], state: 'RECEIVED' },
    { title: 'a retry always wins', events: ['succeeded', 'retried'], state: 'RETRY' },
    { title: 'a retried task is received again', events: ['retried', 'received'], state: 'RECEIVED' },
    { title: 'task-sent alone is PENDING', events: ['sent'], state: 'PENDING' },
    { title: 'a late task-sent does not undo RECEIVED', events: ['received', 'sent'], state: 'RECEIVED' },
  ];
  for (const { title, events, state: expected } of cases) {
    it(`${title}: ${events.join(' -> ')} ends ${expected}`, () => {
      const state = new EventsState();
      events.forEach((subject, i) => state.event(task(subject, 't1', i)));
      expect(state.getTask('t1')!.state).toBe(expected);
    });
  }

  it('a late task-received only contributes its merge-rule fields, never the state or timestamp', () => {
    const state = new EventsState();
    state.event(task('started', 't1', 2));
    state.event(task('succeeded', 't1', 3, { result: '4', runtime: 0.5 }));
    state.event(received('t1', 1, { root_id: 'r', parent_id: 'p', queue: 'late-queue', clock: 1 }));
    const t = state.getTask('t1')!;
    expect(t).toMatchObject({
      state: 'SUCCESS',
      name: 'proj.add',
      args: '(2, 2)',
      rootId: 'r',
      parentId: 'p',
    });
    expect(t).toMatchObject({ timestamp: T0 + 3, received: T0 + 1, result: '4', runtime: 0.5, queue: null });
    expect(t.history.map((entry) => entry.type)).toEqual(['task-received', 'task-started', 'task-succeeded']);
  });

  it('a late event of another kind merges all its fields (Celery has no merge rule for it) but not the state', () => {
    const state = new EventsState();
    state.event(task('succeeded', 't1', 3, { result: '4' }));
    state.event(task('failed', 't1', 2, { exception: "ValueError('x')", traceback: 'tb' }));
    expect(state.getTask('t1')).toMatchObject({
      state: 'SUCCESS',
      exception: "ValueError('x')",
      timestamp: T0 + 2,
    });
  });

  it('keeps custom fields, and the timeline in timestamp order, bounded by maxTaskHistory', () => {
    const state = new EventsState({ maxTaskHistory: 3 });
    state.event(received('t1', 0));
    state.event(task('progress', 't1', 2, { current: 2 }));
    state.event(task('progress', 't1', 1, { current: 1 }));
    state.event(task('started', 't1', 0.5));
    const t = state.getTask('t1')!;
    expect(t.extra).toEqual({ current: 1 });
    expect(t.history.map((entry) => [entry.state, entry.timestamp - T0])).toEqual([
      ['STARTED', 0.5],
      ['PROGRESS', 1],
      ['PROGRESS', 2],
    ]);
  });

  it('drops an event older than the whole timeline once it is full, and decodes entries with their state', () => {
    const state = new EventsState({ maxTaskHistory: 2 });
    state.event(task('started', 't1', 1));
    state.event(task('progress', 't1', 2, { current: 1 }));
    state.event(received('t1', 0));
    const history = state.getTask('t1')!.history;
    expect(history.map((entry) => [entry.type, entry.state, entry.timestamp - T0])).toEqual([
      ['task-started', 'STARTED', 1],
      ['task-progress', 'PROGRESS', 2],
    ]);
    expect(history[0]).toEqual({
      type: 'task-started',
      state: 'STARTED',
      timestamp: T0 + 1,
      clock: expect.any(Number),
      hostname: 'w1@host',
    });
  });

  it('task-sent sets the client, worker events set the worker', () => {
    const state = new EventsState();
    state.event(task('sent', 't1', 0, { name: 'proj.add', queue: 'celery' }));
    state.event(received('t1', 1));
    expect(state.getTask('t1')).toMatchObject({ client: 'gen7@client', worker: 'w1@host', queue: 'celery' });
  });

  it('ignores, and counts, events it cannot use, with the reason', () => {
    const state = new EventsState();
    expect(state.event({ type: 'task-received', hostname: 'w1' })).toMatchObject({ kind: 'ignored' });
    expect(state.event({ type: 'worker-heartbeat' })).toMatchObject({ kind: 'ignored' });
    expect(state.event({ type: 'custom-thing', hostname: 'w1' })).toEqual({
      kind: 'ignored',
      reason: 'no handler for "custom-thing" events',
    });
    expect(state.event({ nothing: true })).toMatchObject({ kind: 'ignored' });
    expect(state.eventCount).toBe(4);
    expect(state.tasks.size).toBe(0);
  });
});

describe('EventsState: parents, roots and children', () => {
  it('links children to parents whichever arrives first', () => {
    const state = new EventsState();
    state.event(received('child', 1, { parent_id: 'parent', root_id: 'root' }));
    expect(state.getTask('child')!.parentId).toBe('parent');
    state.event(received('parent', 0, { root_id: 'root' }));
    state.event(received('other', 2, { parent_id: 'parent', root_id: 'root' }));
    expect([...state.getTask('parent')!.childIds].sort()).toEqual(['child', 'other']);
    expect(state.queryTasks({ rootId: 'root' }).total).toBe(3);
  });
});

describe('EventsState: worker heartbeats and expiry (time injected)', () => {
  it('is alive until freq × 2 after the last heartbeat, and not after worker-offline', () => {
    let now = T0;
    const state = new EventsState({ now: () => now });
    state.event(worker('online', 'w1@host', 0));
    const w = state.getWorker('w1@host')!;
    now = T0 + 3.999;
    expect(state.isAlive(w)).toBe(true);
    now = T0 + 4;
    expect(state.isAlive(w)).toBe(false);
    state.event(worker('heartbeat', 'w1@host', 3));
    expect(w.heartbeatExpires).toBe(T0 + 7);
    expect(state.aliveWorkers().map((x) => x.hostname)).toEqual(['w1@host']);
    state.event(worker('offline', 'w1@host', 5));
    expect(w.heartbeats).toEqual([]);
    expect(state.isAlive(w)).toBe(false);
    expect(state.workers.has('w1@host')).toBe(true);
  });

  it('keeps the last four heartbeats in order, even when they arrive out of order', () => {
    const state = new EventsState();
    for (const at of [1, 2, 4, 3, 5]) state.event(worker('heartbeat', 'w1@host', at));
    expect(state.getWorker('w1@host')!.heartbeats.map((t) => t - T0)).toEqual([2, 3, 4, 5]);
  });

  it("counts task events as heartbeats (with Celery's 60 s default freq for a worker seen only in tasks)", () => {
    const state = new EventsState();
    state.event(received('t1', 10));
    const w = state.getWorker('w1@host')!;
    expect(w.freq).toBe(60);
    expect(w.heartbeats).toEqual([T0 + 10]);
    expect(w.isAlive(T0 + 129.9)).toBe(true);
    expect(w.isAlive(T0 + 130)).toBe(false);
  });

  it('honours heartbeatExpireWindow', () => {
    const state = new EventsState({ heartbeatExpireWindow: 100 });
    state.event(worker('online', 'w1@host', 0));
    expect(state.getWorker('w1@host')!.heartbeatExpires).toBe(T0 + 2);
  });

  it('tells onNodeJoin and onNodeLeave, and warns about clock drift once per worker', () => {
    const joined: string[] = [];
    const left: string[] = [];
    const drift: DriftWarning[] = [];
    const state = new EventsState({
      onNodeJoin: (w: WorkerSnapshot) => joined.push(w.hostname),
      onNodeLeave: (w: WorkerSnapshot) => left.push(w.hostname),
      onDrift: (warning) => drift.push(warning),
    });
    state.event(worker('online', 'w1@host', 0));
    state.event(worker('heartbeat', 'w1@host', 2));
    state.event({ ...worker('heartbeat', 'w1@host', 4), local_received: T0 + 60 });
    state.event({ ...worker('heartbeat', 'w1@host', 6), local_received: T0 + 70 });
    state.event(worker('offline', 'w1@host', 8));
    state.event(worker('offline', 'ghost@host', 8));
    expect(joined).toEqual(['w1@host']);
    expect(left).toEqual(['w1@host', 'ghost@host']);
    expect(state.workers.has('ghost@host')).toBe(false);
    expect(drift).toHaveLength(1);
    expect(drift[0]).toMatchObject({ hostname: 'w1@host', drift: 56 });
    expect(drift[0]!.message).toMatch(/^Substantial drift from w1@host may mean clocks are out of sync/);
  });
});

describe('EventsState: bounded memory', () => {
  it('evicts the oldest task past maxTasks, from every index and link', () => {
    const state = new EventsState({ maxTasks: 3 });
    state.event(received('a', 0));
    state.event(received('b', 1, { parent_id: 'a' }));
    state.event(received('c', 2, { parent_id: 'missing' }));
    // b's parent link touched a (an LRU read in Celery), so b, not a, is the least recently used.
    state.event(received('d', 3));
    expect([...state.tasks.keys()]).toEqual(['a', 'c', 'd']);
    expect(state.getTask('a')!.childIds).toEqual([]);
    state.event(received('e', 4));
    state.event(received('f', 5));
    expect([...state.tasks.keys()]).toEqual(['d', 'e', 'f']);
    expect(state.queryTasks({ state: 'RECEIVED' }).total).toBe(3);
    expect(state.queryTasks({ name: 'proj.add' }).total).toBe(3);
    expect(state.queryTasks({ worker: 'w1@host' }).total).toBe(3);
    // The evicted orphan c left the waiting list: its parent arriving later finds no children.
    state.event(received('missing', 6));
    expect(state.getTask('missing')!.childIds).toEqual([]);
  });

  it('evicts the oldest worker past maxWorkers', () => {
    const state = new EventsState({ maxWorkers: 2 });
    for (const name of ['w1', 'w2', 'w3']) state.event(worker('online', name, 0));
    expect([...state.workers.keys()]).toEqual(['w2', 'w3']);
  });

  it('keeps a constant number of tasks through a long stream', () => {
    const state = new EventsState({ maxTasks: 100 });
    for (let i = 0; i < 10_000; i += 1) {
      state.event(received(`t${i}`, i));
      state.event(task('succeeded', `t${i}`, i + 0.5, { result: '4', runtime: 0.01 }));
    }
    expect(state.tasks.size).toBe(100);
    expect(state.stateCounts()).toEqual({ SUCCESS: 100 });
    expect(state.taskCount).toBe(10_000);
  });

  it('rejects options that are not positive integers, naming them', () => {
    expect(() => new EventsState({ maxTasks: 0 })).toThrow(
      'EventsState option "maxTasks" must be a positive integer, got 0',
    );
    expect(() => new EventsState({ heartbeatExpireWindow: -1 })).toThrow(/"heartbeatExpireWindow"/);
  });
});

describe('EventsState: counters, receive() and clearing', () => {
  it('counts events by worker, type and task name, and past maxCounterSeries under "*"', () => {
    const state = new EventsState({ maxCounterSeries: 2 });
    state.event(received('t1', 0));
    state.event(task('succeeded', 't1', 1));
    state.event(task('succeeded', 't2', 1, { hostname: 'w2@host' }));
    state.event(task('succeeded', 't3', 1, { hostname: 'w3@host' }));
    expect(state.eventCounters()).toEqual([
      { worker: 'w1@host', type: 'task-received', task: 'proj.add', count: 1 },
      { worker: 'w1@host', type: 'task-succeeded', task: 'proj.add', count: 1 },
      { worker: '*', type: 'task-succeeded', task: '', count: 2 },
    ]);
  });

  it("receive() takes task.multi lists and single events, replacing task-sent clocks with the receiver's", () => {
    const state = new EventsState({ now: () => T0 + 100, localUtcoffset: 0 });
    const { local_received: _lr, ...sent } = task('sent', 't1', 0, { clock: 900, name: 'proj.add' });
    const { local_received: _lr2, ...got } = received('t1', 1, { clock: 5 });
    expect(state.receive(sent)[0]).toMatchObject({ kind: 'task', created: true });
    const outcomes = state.receive([got, 'junk']);
    expect(outcomes.map((o) => o.kind)).toEqual(['task', 'ignored']);
    const t = state.getTask('t1')!;
    expect(t.history.map((entry) => entry.clock)).toEqual([0, 5]);
    expect(state.eventCount).toBe(3);
  });

  it('receive() takes an event a receiver prepared as it is (no second time-zone shift, clock kept)', () => {
    const state = new EventsState({ now: () => T0 + 100, localUtcoffset: 0 });
    // Prepared by a receiver: timestamp already moved from the sender's utcoffset -1 to here.
    const prepared = received('t1', 1, { clock: 7, utcoffset: -1, local_received: T0 + 2 });
    state.receive(prepared);
    const t = state.getTask('t1')!;
    expect(t.history.map((entry) => entry.clock)).toEqual([7]);
    expect(t.received).toBe(prepared.timestamp);
  });

  it('subscribe() tells listeners what each event did', () => {
    const state = new EventsState();
    const seen: string[] = [];
    const stop = state.subscribe((outcome) => seen.push(outcome.kind));
    state.event(received('t1', 0));
    stop();
    state.event(received('t2', 0));
    expect(seen).toEqual(['task']);
  });

  it('clearTasks() keeps unfinished tasks by default; clear() also drops workers and counters', () => {
    const state = new EventsState();
    state.event(received('done', 0));
    state.event(task('succeeded', 'done', 1));
    state.event(received('running', 0));
    state.clearTasks();
    expect([...state.tasks.keys()]).toEqual(['running']);
    state.clear(false);
    expect(state.tasks.size + state.workers.size + state.eventCount + state.eventCounters().length).toBe(0);
  });
});
