/**
 * The events state model against the ground truth: a stream recorded from a real Celery 5.2.6 prefork and solo
 * worker (test/fixtures/events/capture.py), replayed into EventsState, must give the workers and tasks that
 * Celery's own `celery.events.state.State` gave for the same stream, field by field.
 */
import { describe, expect, it } from 'vitest';
import { LamportClock } from '../../src/events/clock.js';
import { prepareEvent, splitEventBody } from '../../src/events/incoming.js';
import { EventsState } from '../../src/events/state.js';
import type { TaskSnapshot } from '../../src/events/task-record.js';
import type { TaskRecord } from '../../src/events/task-record.js';
import type { JsonValue } from '../../src/types.js';
import { bodyOf, recordedState, stream, type TaskSummary } from '../fixtures/events/fixtures.js';

const recording = stream();
const expected = recordedState();

/** Python's Task keeps every event field; these are the envelope ones EventsState does not copy onto tasks. */
const ENVELOPE = ['hostname', 'utcoffset', 'pid', 'type', 'local_received'];
/** Celery's Task class defaults, for attributes never set on the instance. */
const TASK_DEFAULTS: Record<string, JsonValue> = { clock: 0, state: 'PENDING' };

function replay(
  upTo = recording.messages.length,
  state = new EventsState({ now: () => expected.summary.now }),
) {
  const clock = new LamportClock();
  recording.messages.slice(0, upTo).forEach((message) => {
    for (const raw of splitEventBody(bodyOf(message)).events) {
      state.event(
        prepareEvent(raw, { clock, now: message.received_at, localUtcoffset: expected.local_utcoffset }),
      );
    }
  });
  return state;
}

/** Our task in the shape of the Python summary: Celery's field names, extra fields inline. */
function celeryView(state: EventsState, task: TaskSnapshot): Record<string, JsonValue> {
  const record = task as TaskRecord;
  const { root: _root, parent: _parent, ...fields } = record.asDict();
  const worker = task.worker === null ? undefined : state.getWorker(task.worker);
  return {
    ...fields,
    queue: task.queue,
    ...task.extra,
    children: [...task.childIds].sort(),
    ready: task.ready,
    origin: worker === undefined ? task.client : worker.id,
  };
}

function pythonView(summary: TaskSummary): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = { ...summary };
  for (const key of ENVELOPE) delete out[key];
  return out;
}

describe('EventsState fed a stream recorded from Celery 5.2.6', () => {
  it('prepares each event exactly as EventReceiver.event_from_message did (clock, timestamp, local_received)', () => {
    const clock = new LamportClock();
    const prepared = recording.messages.map((message) =>
      splitEventBody(bodyOf(message)).events.map((raw) =>
        prepareEvent(raw, { clock, now: message.received_at, localUtcoffset: expected.local_utcoffset }),
      ),
    );
    expect(prepared).toEqual(expected.prepared);
  });

  it('covers what the capture set out to record', () => {
    const types = new Set(expected.prepared.flat().map((event) => event.type));
    for (const type of [
      'worker-online',
      'worker-heartbeat',
      'worker-offline',
      'task-sent',
      'task-received',
      'task-started',
      'task-succeeded',
      'task-failed',
      'task-retried',
      'task-rejected',
      'task-revoked',
      'task-progress',
    ]) {
      expect(types, type).toContain(type);
    }
    expect(recording.messages.some((message) => message.routing_key === 'task.multi')).toBe(true);
  });

  it("gives Celery's counters, task types, time order and alive workers", () => {
    const state = replay();
    const summary = expected.summary;
    expect(state.eventCount).toBe(summary.event_count);
    expect(state.taskCount).toBe(summary.task_count);
    expect(state.taskTypes()).toEqual(summary.task_types);
    expect(state.tasksByTime().map((task) => task.uuid)).toEqual(summary.tasks_by_time);
    expect(state.aliveWorkers().map((worker) => worker.hostname)).toEqual(summary.alive_workers);
  });

  it("gives Celery's workers, field by field", () => {
    const state = replay();
    const summary = expected.summary;
    expect([...state.workers.keys()].sort()).toEqual(Object.keys(summary.workers).sort());
    for (const [hostname, want] of Object.entries(summary.workers)) {
      const worker = state.getWorker(hostname)!;
      expect({
        hostname: worker.hostname,
        pid: worker.pid,
        freq: worker.freq,
        heartbeats: worker.heartbeats,
        clock: worker.clock,
        active: worker.active,
        processed: worker.processed,
        loadavg: worker.loadavg,
        sw_ident: worker.swIdent,
        sw_ver: worker.swVer,
        sw_sys: worker.swSys,
        alive: worker.isAlive(summary.now),
        heartbeat_expires: worker.heartbeatExpires,
        id: worker.id,
      }).toEqual(want);
    }
  });

  it("gives Celery's tasks: state, times, args, result, exception, runtime, worker, parent/root, children", () => {
    const state = replay();
    const summary = expected.summary;
    expect([...state.tasks.keys()].sort()).toEqual(Object.keys(summary.tasks).sort());
    for (const [uuid, want] of Object.entries(summary.tasks)) {
      const ours = celeryView(state, state.getTask(uuid)!);
      const theirs = pythonView(want);
      for (const key of new Set([...Object.keys(ours), ...Object.keys(theirs)])) {
        expect(ours[key] ?? null, `${uuid} ${key}`).toEqual(theirs[key] ?? TASK_DEFAULTS[key] ?? null);
      }
    }
  });

  it('agrees with Celery on the quirks the recording shows', () => {
    const state = replay();
    const ids = recording.ids;
    // A prefork worker may flush the first attempt's task-retried after the second attempt's task-succeeded (in
    // one task.multi batch; the committed recording has it). RETRY always wins, so Celery's State then ends in
    // RETRY with the success fields merged.
    const retried = state.getTask(ids.retried!)!;
    const retryEvents = expected.prepared.flat().filter((event) => event.uuid === ids.retried);
    const retriedLast =
      retryEvents.findIndex((event) => event.type === 'task-retried') >
      retryEvents.findIndex((event) => event.type === 'task-succeeded');
    expect(retried.state).toBe(retriedLast ? 'RETRY' : 'SUCCESS');
    expect(retried.result).toBe('7');
    // The retry message names the task as its own parent: it is its own child.
    expect(retried.childIds).toContain(retried.uuid);
    // A task-rejected (worker lost, requeued) and then received/started/succeeded again.
    const rejected = state.getTask(ids.rejected!)!;
    expect(rejected.state).toBe('SUCCESS');
    expect(rejected.rejected).not.toBeNull();
    expect(rejected.extra.requeue).toBe(true);
    // Unregistered: a lone task-failed without a name.
    const unregistered = state.getTask(ids.unregistered!)!;
    expect(unregistered.state).toBe('FAILURE');
    expect(unregistered.exception).toBe("NotRegistered('events.missing')");
    // Custom state from task-progress events, then SUCCESS.
    const progress = state.getTask(ids.progress!)!;
    expect(progress.history.map((entry) => entry.state)).toEqual([
      'PENDING',
      'RECEIVED',
      'STARTED',
      'PROGRESS',
      'PROGRESS',
      'PROGRESS',
      'SUCCESS',
    ]);
    expect(progress.extra).toMatchObject({ current: 3, total: 3 });
    // Canvas links: the chain's links name the first as root and the previous as parent.
    const chain3 = state.getTask(ids['chain-3']!)!;
    expect(chain3.rootId).toBe(ids['chain-1']);
    expect(chain3.parentId).toBe(ids['chain-2']);
    expect(state.getTask(ids['chain-2']!)!.childIds).toEqual([ids['chain-3']]);
  });

  it("matches Celery's worker heartbeats and alive flag after every worker event, and freq × 2 later", () => {
    const state = new EventsState({ now: () => 0 });
    let fed = 0;
    for (const checkpoint of expected.checkpoints) {
      replayRange(state, fed, checkpoint.message + 1);
      fed = checkpoint.message + 1;
      const worker = state.getWorker(checkpoint.hostname);
      if (!checkpoint.known) {
        expect(worker).toBeUndefined();
        continue;
      }
      expect(worker!.heartbeats, `message ${checkpoint.message}`).toEqual(checkpoint.heartbeats);
      expect(worker!.heartbeatExpires).toEqual(checkpoint.heartbeat_expires);
      expect(worker!.isAlive(checkpoint.now)).toBe(checkpoint.alive);
      expect(worker!.isAlive(checkpoint.later!)).toBe(checkpoint.alive_later);
    }
    expect(fed).toBeGreaterThan(0);
  });
});

const sharedClock = new WeakMap<EventsState, LamportClock>();

/** Feeds messages [from, to) to `state`, with one receiver clock per state, as one receiver would. */
function replayRange(state: EventsState, from: number, to: number): void {
  let clock = sharedClock.get(state);
  if (clock === undefined) sharedClock.set(state, (clock = new LamportClock()));
  for (const message of recording.messages.slice(from, to)) {
    for (const raw of splitEventBody(bodyOf(message)).events) {
      state.event(
        prepareEvent(raw, { clock, now: message.received_at, localUtcoffset: expected.local_utcoffset }),
      );
    }
  }
}
