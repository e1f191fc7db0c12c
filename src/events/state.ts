/**
 * `EventsState`: the cluster as the event stream shows it, Celery's `celery.events.state.State` for Node: workers
 * (alive while their heartbeats keep coming), tasks (their events merged in Celery's order of precedence, with a
 * timeline), parent/child links, counters for metrics, bounded memory, and the indexed, paged queries a dashboard
 * needs. Pure and synchronous: feed it events (`event()` for events a receiver prepared, `receive()` for raw
 * message bodies) and read it; the clock is injectable, so expiry is tested without waiting.
 *
 * Indexes, each updated once per event: tasks by id, by recency (eviction order), by timestamp (time-index.ts:
 * the dashboard's default newest-first table, read page by page) and by state, name and worker (a Set per value).
 * Memory, about 770 bytes per task at dashboard scale: records share their repeated strings (names, hosts, event
 * types, states and the commonest reprs such as `()` and `{}`), see task-record.ts for the record's own layout.
 *
 * Differences from Celery, on purpose: a worker that goes offline stays in `workers` (not alive) even when an
 * `onNodeLeave` callback is set (Celery then drops it); the task-by-worker index follows the task's current worker
 * (Celery files a task under the hostname of its first event, the client's for task-sent); evicted tasks leave
 * every index and link at once (Celery's weak references go when the garbage collector gets to them); envelope
 * fields (`hostname`, `pid`, `utcoffset`, `type`, `local_received`) are not copied onto tasks.
 */
import type { JsonObject, JsonValue } from '../types.js';
import { LamportClock } from './clock.js';
import { prepareEvent, splitEventBody, type ReceivedEvent } from './incoming.js';
import { queryTasks, ValueIndex, BoundedHeap, type TaskPage, type TaskQuery } from './task-query.js';
import { RecencyList } from './recency.js';
import { TimeIndex } from './time-index.js';
import { TaskLinks } from './task-links.js';
import { TaskRecord, type TaskSnapshot } from './task-record.js';
import { EventCounters, type EventCounter } from './counters.js';
import {
  HEARTBEAT_DRIFT_MAX,
  HEARTBEAT_EXPIRE_WINDOW,
  WorkerRecord,
  type WorkerSnapshot,
} from './worker-record.js';

export interface EventsStateOptions {
  /** Tasks kept; the least recently created goes first (Celery's `max_tasks_in_memory`, default 10,000). */
  readonly maxTasks?: number;
  /** Workers kept, oldest first out (Celery's `max_workers_in_memory`, default 5,000). */
  readonly maxWorkers?: number;
  /** Timeline entries kept per task, newest kept (default 100). */
  readonly maxTaskHistory?: number;
  /** Distinct worker/type/task counter series kept before the rest are counted under `*` (default 10,000). */
  readonly maxCounterSeries?: number;
  /** Percent of `freq` after the last heartbeat before a worker counts as offline (Celery's 200). */
  readonly heartbeatExpireWindow?: number;
  /** The time in seconds since the epoch (default `Date.now() / 1000`): `alive` and `receive()` use it. */
  readonly now?: () => number;
  /** The Lamport clock `receive()` syncs (default: a fresh one). */
  readonly clock?: LamportClock;
  /** This machine's offset to UTC in hours for `receive()` (default: the local time zone's). */
  readonly localUtcoffset?: number;
  /** A worker seen for the first time, or online again (Celery's `on_node_join`). */
  readonly onNodeJoin?: (worker: WorkerSnapshot) => void;
  /** A worker-offline event (Celery's `on_node_leave`). */
  readonly onNodeLeave?: (worker: WorkerSnapshot) => void;
  /** A worker's clock looks more than 16 s off ours; told once per hostname, as Celery logs it once. */
  readonly onDrift?: (warning: DriftWarning) => void;
}

export interface DriftWarning {
  readonly hostname: string;
  /** Whole seconds between the event's timestamp and its arrival. */
  readonly drift: number;
  readonly message: string;
}

/** What one event did. */
export type EventOutcome =
  | {
      readonly kind: 'task';
      readonly subject: string;
      readonly task: TaskSnapshot;
      readonly created: boolean;
    }
  | {
      readonly kind: 'worker';
      readonly subject: string;
      readonly worker: WorkerSnapshot;
      readonly created: boolean;
    }
  /** Counted, otherwise ignored: an unknown event group, or a task/worker event missing a required field. */
  | { readonly kind: 'ignored'; readonly reason: string };

export type EventListener = (outcome: EventOutcome, event: Readonly<Record<string, JsonValue>>) => void;

const DEFAULTS = { maxTasks: 10_000, maxWorkers: 5_000, maxTaskHistory: 100, maxCounterSeries: 10_000 };
const DRIFT_MEMORY = 1000;

export class EventsState {
  /** Every event handed in, ignored ones included (Celery's `event_count`). */
  eventCount = 0;
  /** task-received events seen (Celery's `task_count`). */
  taskCount = 0;

  private readonly tasksById = new Map<string, TaskRecord>();
  /** The tasks from least to most recently used: created, or named as a parent (Celery's LRUCache reads). */
  private readonly recency = new RecencyList<TaskRecord>();
  private readonly workersByName = new Map<string, WorkerRecord>();
  /** The tasks by timestamp: the dashboard's default order, read page by page. */
  private readonly byTime = new TimeIndex<TaskRecord>();
  private readonly byState = new ValueIndex();
  private readonly byName = new ValueIndex();
  private readonly byWorker = new ValueIndex();
  private readonly links = new TaskLinks(
    (id) => this.tasksById.get(id),
    (parent) => this.recency.touch(parent),
  );
  private readonly seenTypes = new Set<string>();
  private readonly counters: EventCounters;
  private readonly driftWarned = new Set<string>();
  private readonly listeners = new Set<EventListener>();
  private readonly interned = new Map<string, string>();
  private readonly options: Required<
    Pick<EventsStateOptions, 'maxTasks' | 'maxWorkers' | 'maxTaskHistory' | 'heartbeatExpireWindow'>
  >;
  private readonly now: () => number;
  private readonly clock: LamportClock;
  private seq = 0;
  /** Tasks whose id is not only hex digits and dashes (Celery's ids are UUIDs; custom ids may be anything). */
  private otherIds = 0;

  constructor(private readonly settings: EventsStateOptions = {}) {
    this.options = {
      maxTasks: positive('maxTasks', settings.maxTasks ?? DEFAULTS.maxTasks),
      maxWorkers: positive('maxWorkers', settings.maxWorkers ?? DEFAULTS.maxWorkers),
      maxTaskHistory: positive('maxTaskHistory', settings.maxTaskHistory ?? DEFAULTS.maxTaskHistory),
      heartbeatExpireWindow: positive(
        'heartbeatExpireWindow',
        settings.heartbeatExpireWindow ?? HEARTBEAT_EXPIRE_WINDOW,
        false,
      ),
    };
    this.counters = new EventCounters(
      positive('maxCounterSeries', settings.maxCounterSeries ?? DEFAULTS.maxCounterSeries),
    );
    this.now = settings.now ?? (() => Date.now() / 1000);
    this.clock = settings.clock ?? new LamportClock();
  }

  // ------------------------------------------------------------------------------------------------ feeding

  /**
   * Handles one event a receiver prepared (with `clock` and `local_received`, see `prepareEvent`), as
   * `State.event`. Never throws on bad input: a malformed event comes back as `ignored` with the reason.
   */
  event(event: ReceivedEvent | Readonly<Record<string, JsonValue>>): EventOutcome {
    this.eventCount += 1;
    const type = typeof event.type === 'string' ? event.type : '';
    const dash = type.indexOf('-');
    const group = dash === -1 ? type : type.slice(0, dash);
    const subject = dash === -1 ? '' : type.slice(dash + 1);
    let outcome: EventOutcome;
    if (group === 'worker') outcome = this.workerEvent(subject, event);
    else if (group === 'task') outcome = this.taskEvent(subject, event);
    else outcome = ignored(type ? `no handler for "${type}" events` : 'event without a string "type"');
    const taskName = outcome.kind === 'task' ? (outcome.task.name ?? '') : '';
    this.counters.count(stringField(event, 'hostname') ?? '', type, taskName);
    for (const listener of this.listeners) listener(outcome, event);
    return outcome;
  }

  /**
   * Handles a raw event message body (one event or a `task.multi` list) as a receiver would: syncs the clock,
   * localizes timestamps, stamps `local_received` with `now`, then `event()` for each. An event a receiver has
   * prepared already (`app.events.receiver` hands those on: with `local_received`, which no sender sets) goes to
   * `event()` as it is, so `receive` can be given either.
   */
  receive(body: unknown, now: number = this.now()): EventOutcome[] {
    const items: unknown[] = Array.isArray(body) ? (body as unknown[]) : [body];
    return items.map((item) => {
      if (splitEventBody(item).events.length === 1) return this.receiveOne(item as JsonObject, now);
      this.eventCount += 1;
      return ignored('event that is not a JSON object');
    });
  }

  private receiveOne(raw: JsonObject, now: number): EventOutcome {
    if (typeof raw.local_received === 'number' && typeof raw.clock === 'number') return this.event(raw);
    let prepared: ReceivedEvent;
    try {
      prepared = prepareEvent(raw, { clock: this.clock, now, ...utcoffsetOption(this.settings) });
    } catch (error) {
      this.eventCount += 1;
      return ignored((error as Error).message);
    }
    return this.event(prepared);
  }

  /** Calls `listener` after every event with what it did; returns the function that unsubscribes it. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private workerEvent(subject: string, event: Readonly<Record<string, JsonValue>>): EventOutcome {
    const hostname = stringField(event, 'hostname');
    if (hostname === undefined || !('timestamp' in event) || !('local_received' in event)) {
      return ignored('worker event without "hostname", "timestamp" or "local_received"');
    }
    const offline = subject === 'offline';
    let worker = this.workersByName.get(hostname);
    let created = false;
    if (worker === undefined) {
      // Celery does not keep a worker it first hears of as it leaves.
      worker = new WorkerRecord(this.intern(hostname), this.options.heartbeatExpireWindow);
      if (!offline) {
        this.storeWorker(worker);
        created = true;
      }
    }
    worker.merge(event);
    if (offline) worker.goOffline();
    else this.heartbeat(worker, numberField(event, 'local_received'), numberField(event, 'timestamp'));
    if (created || subject === 'online') this.settings.onNodeJoin?.(worker);
    if (offline) this.settings.onNodeLeave?.(worker);
    return { kind: 'worker', subject, worker, created };
  }

  /** `Worker.event`'s heartbeat part: needs both times (truthy, as Celery checks them). */
  private heartbeat(worker: WorkerRecord, at: number | undefined, other: number | undefined): void {
    if (!at || !other) return;
    const drift = worker.beat(at, other);
    if (drift > HEARTBEAT_DRIFT_MAX) this.warnDrift(worker.hostname, drift, at, other);
  }

  private warnDrift(hostname: string, drift: number, received: number, timestamp: number): void {
    if (this.driftWarned.has(hostname)) return;
    if (this.driftWarned.size >= DRIFT_MEMORY) this.driftWarned.clear();
    this.driftWarned.add(hostname);
    const at = (seconds: number) => new Date(seconds * 1000).toISOString();
    const message =
      `Substantial drift from ${hostname} may mean clocks are out of sync.  Current drift is ${drift} ` +
      `seconds.  [orig: ${at(received)} recv: ${at(timestamp)}]`;
    this.settings.onDrift?.({ hostname, drift, message });
  }

  private taskEvent(subject: string, event: Readonly<Record<string, JsonValue>>): EventOutcome {
    const uuid = stringField(event, 'uuid');
    const hostname = stringField(event, 'hostname');
    const timestamp = numberField(event, 'timestamp');
    const localReceived = event.local_received;
    const clock = numberField(event, 'clock');
    if (!uuid || hostname === undefined || timestamp === undefined || clock === undefined) {
      return ignored('task event without "uuid", "hostname", "timestamp" or "clock"');
    }
    let task = this.tasksById.get(uuid);
    const created = task === undefined;
    if (task === undefined) task = this.createTask(uuid);
    const [stateBefore, nameBefore, workerBefore] = [task.state, task.name, task.worker];
    const timestampBefore = task.timestamp;
    const origin = this.senderOf(task, subject, hostname, timestamp, localReceived);
    task.updateOrder(clock, timestamp, origin);
    if (subject === 'received') this.taskCount += 1;
    task.apply(subject, timestamp, event);
    task.record(
      this.intern(`task-${subject}`),
      this.intern(hostname),
      timestamp,
      clock,
      this.options.maxTaskHistory,
    );
    this.internTask(task);
    if (task.name !== null) this.seenTypes.add(task.name);
    if (created) this.byTime.add(task);
    else this.byTime.move(task, timestampBefore);
    this.byState.move(task, stateBefore, task.state);
    this.byName.move(task, nameBefore, task.name);
    this.byWorker.move(task, workerBefore, task.worker);
    this.links.link(task);
    return { kind: 'task', subject, task, created };
  }

  /**
   * Sets the task's client or worker and returns the event's origin for ordering (`hostname.pid` of the worker).
   * A task event also counts as a heartbeat of its worker, with the two times swapped: Celery calls
   * `worker.event(None, local_received, timestamp)` against the signature `(type, timestamp, local_received)`,
   * so the event's own timestamp is what lands in `heartbeats`. Mirrored, so that `alive` agrees with Celery.
   */
  private senderOf(
    task: TaskRecord,
    subject: string,
    hostname: string,
    timestamp: number,
    localReceived: JsonValue | undefined,
  ): string {
    if (subject === 'sent') {
      task.client = this.intern(hostname);
      return task.client;
    }
    let worker = this.workersByName.get(hostname);
    if (worker === undefined) {
      worker = new WorkerRecord(this.intern(hostname), this.options.heartbeatExpireWindow);
      this.storeWorker(worker);
    }
    task.worker = worker.hostname;
    if (typeof localReceived === 'number' && localReceived) this.heartbeat(worker, timestamp, localReceived);
    return worker.id;
  }

  private createTask(uuid: string): TaskRecord {
    if (this.tasksById.size >= this.options.maxTasks) {
      const oldest = this.recency.oldest;
      if (oldest !== null) this.evict(oldest);
    }
    const task = new TaskRecord(uuid, this.seq++);
    if (!HEX_ID.test(uuid)) this.otherIds += 1;
    this.tasksById.set(uuid, task);
    this.recency.append(task);
    return task;
  }

  private storeWorker(worker: WorkerRecord): void {
    if (this.workersByName.size >= this.options.maxWorkers) {
      const oldest = this.workersByName.keys().next().value;
      if (oldest !== undefined) this.workersByName.delete(oldest);
    }
    this.workersByName.set(worker.hostname, worker);
  }

  /** Drops a task from the map, the indexes and every link, in O(links). */
  private evict(task: TaskRecord): void {
    if (this.tasksById.delete(task.uuid) && !HEX_ID.test(task.uuid)) this.otherIds -= 1;
    this.recency.remove(task);
    this.byTime.remove(task);
    this.byState.move(task, task.state, null);
    this.byName.move(task, task.name, null);
    this.byWorker.move(task, task.worker, null);
    this.links.unlink(task);
  }

  private intern(value: string): string {
    const known = this.interned.get(value);
    if (known !== undefined) return known;
    if (this.interned.size < 100_000) this.interned.set(value, value);
    return value;
  }

  /** Repeated strings (names, hosts, queues) share one copy: 100,000 tasks hold few distinct values. */
  private internTask(task: TaskRecord): void {
    if (task.name !== null) task.name = this.intern(task.name);
    if (task.queue !== null) task.queue = this.intern(task.queue);
    if (task.exchange !== null) task.exchange = this.intern(task.exchange);
    if (task.routingKey !== null) task.routingKey = this.intern(task.routingKey);
    task.state = this.intern(task.state);
    // The reprs most tasks share (`()`, `{}`, `None`): one copy, and a search reads one string, not one per task.
    if (task.args !== null) task.args = common(task.args);
    if (task.kwargs !== null) task.kwargs = common(task.kwargs);
    if (task.result !== null) task.result = common(task.result);
    // Canvas ids usually name tasks we hold: share their id strings instead of keeping copies.
    if (task.rootId !== null) task.rootId = this.knownId(task, task.rootId);
    if (task.parentId !== null) task.parentId = this.knownId(task, task.parentId);
  }

  private knownId(task: TaskRecord, id: string): string {
    return id === task.uuid ? task.uuid : (this.tasksById.get(id)?.uuid ?? id);
  }

  // ------------------------------------------------------------------------------------------------ reading

  /** Seconds since the epoch, from the injected clock. */
  time(): number {
    return this.now();
  }

  get tasks(): ReadonlyMap<string, TaskSnapshot> {
    return this.tasksById;
  }

  get workers(): ReadonlyMap<string, WorkerSnapshot> {
    return this.workersByName;
  }

  getTask(uuid: string): TaskSnapshot | undefined {
    return this.tasksById.get(uuid);
  }

  getWorker(hostname: string): WorkerSnapshot | undefined {
    return this.workersByName.get(hostname);
  }

  /** Alive at `now` (default: the injected clock). */
  isAlive(worker: WorkerSnapshot, now: number = this.now()): boolean {
    return worker.isAlive(now);
  }

  aliveWorkers(now: number = this.now()): WorkerSnapshot[] {
    return [...this.workersByName.values()].filter((worker) => worker.isAlive(now));
  }

  /** Task names seen, sorted (Celery's `task_types()`). */
  taskTypes(): string[] {
    return [...this.seenTypes].sort();
  }

  /** How many tasks are in each state now. */
  stateCounts(): Record<string, number> {
    return this.byState.counts();
  }

  /** Event counts by worker, type and task name (Flower's `flower_events_total` labels). */
  eventCounters(): EventCounter[] {
    return this.counters.list();
  }

  /** One page of tasks matching `query` (see TaskQuery); throws a RangeError naming a bad option. */
  queryTasks(query: TaskQuery = {}): TaskPage {
    return queryTasks(
      {
        all: this.tasksById,
        time: this.byTime,
        state: this.byState,
        name: this.byName,
        worker: this.byWorker,
        hexIds: this.otherIds === 0,
      },
      query,
    );
  }

  /**
   * Tasks by the Lamport order of their latest event, newest first (Celery's `tasks_by_time`), optionally only
   * one task name or one worker.
   */
  tasksByTime(
    options: { limit?: number; reverse?: boolean; name?: string; worker?: string } = {},
  ): TaskSnapshot[] {
    const reverse = options.reverse ?? true;
    const compare = (a: TaskRecord, b: TaskRecord): number => {
      const order = a.orderOrigin !== null && b.orderOrigin !== null ? compareOrder(b, a) : 0;
      return (reverse ? order : -order) || (reverse ? b.seq - a.seq : a.seq - b.seq);
    };
    const source =
      options.name !== undefined
        ? this.byName.get(options.name)
        : options.worker !== undefined
          ? this.byWorker.get(options.worker)
          : this.tasksById.values();
    const wanted = (task: TaskRecord) => options.worker === undefined || task.worker === options.worker;
    if (options.limit === undefined) return [...(source ?? [])].filter(wanted).sort(compare);
    // Newest first scans backwards (tasks sit roughly in time order), so most are rejected by one comparison.
    const tasks = Array.from(source ?? []);
    const heap = new BoundedHeap(options.limit, compare);
    for (let i = 0; i < tasks.length; i += 1) {
      const task = tasks[reverse ? tasks.length - 1 - i : i] as TaskRecord;
      if (wanted(task)) heap.push(task);
    }
    return heap.sorted();
  }

  // ------------------------------------------------------------------------------------------------ clearing

  /** Forgets tasks: with `ready` true (the default) only those in a ready state, as `State.clear_tasks`. */
  clearTasks(ready = true): void {
    for (const task of [...this.tasksById.values()]) {
      if (!ready || task.ready) this.evict(task);
    }
    if (!ready) this.links.clear();
  }

  /** Forgets workers and tasks (ready ones only, by default) and resets the counters, as `State.clear`. */
  clear(ready = true): void {
    this.workersByName.clear();
    this.clearTasks(ready);
    this.eventCount = 0;
    this.taskCount = 0;
    this.counters.clear();
  }

  /** Forgets one worker (offline workers otherwise stay listed, not alive). */
  forgetWorker(hostname: string): boolean {
    return this.workersByName.delete(hostname);
  }
}

const HEX_ID = /^[0-9a-f-]*$/i;

const COMMON_REPRS = new Map(
  ['()', '[]', '{}', 'None', 'True', 'False', "''", '0', '1'].map((repr) => [repr, repr] as const),
);

/** The shared copy of a very common argument or result repr, else the text itself. */
function common(text: string): string {
  return text.length <= 5 ? (COMMON_REPRS.get(text) ?? text) : text;
}

/** `compareEventOrder` over two tasks' latest events, without building the tuples. */
function compareOrder(a: TaskRecord, b: TaskRecord): number {
  if (a.orderClock && b.orderClock) {
    if (a.orderClock === b.orderClock) {
      const [x, y] = [a.orderOrigin as string, b.orderOrigin as string];
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return a.orderClock - b.orderClock;
  }
  return a.orderTimestamp - b.orderTimestamp;
}

function ignored(reason: string): EventOutcome {
  return { kind: 'ignored', reason };
}

function stringField(event: Readonly<Record<string, JsonValue>>, key: string): string | undefined {
  const value = event[key];
  return typeof value === 'string' ? value : undefined;
}

function numberField(event: Readonly<Record<string, JsonValue>>, key: string): number | undefined {
  const value = event[key];
  return typeof value === 'number' ? value : undefined;
}

function utcoffsetOption(settings: EventsStateOptions): { localUtcoffset?: number } {
  return settings.localUtcoffset === undefined ? {} : { localUtcoffset: settings.localUtcoffset };
}

function positive(option: string, value: number, integer = true): number {
  const ok = integer ? Number.isSafeInteger(value) && value >= 1 : Number.isFinite(value) && value > 0;
  if (!ok) {
    const what = integer ? 'a positive integer' : 'a positive number';
    throw new RangeError(`EventsState option "${option}" must be ${what}, got ${String(value)}`);
  }
  return value;
}
