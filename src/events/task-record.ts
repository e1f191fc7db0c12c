/**
 * One task as the events show it, as Celery's `celery.events.state.Task`: the fields of its events merged in the
 * order Celery merges them, so that events arriving out of order (a batch flushed late, two workers, a retry)
 * never move a task back to an earlier state, plus the timeline of its events.
 *
 * The merge rule (`Task.event`): an event whose state has lower precedence than the task's current state
 * (`celery.states.precedence`: SUCCESS, FAILURE, custom states, REVOKED, STARTED, RECEIVED, REJECTED, RETRY,
 * PENDING) happened before it, so its fields are merged without changing the state (and for task-received only
 * `merge_rules` fields: name, args, kwargs, parent_id, root_id, retries, eta, expires); any other event sets the
 * state. RETRY is exempt both ways: a retried task is received again, and a retry event always wins.
 *
 * Memory, for a dashboard holding 100,000 of them: the fields most tasks never set live in a `RareFields` object
 * allocated on first use, the timeline is packed into one exact-size array (decoded by `history` on read), the
 * Lamport order of the latest event is three fields rather than an object, and EventsState hands in shared
 * (interned) strings for event types, hostnames, names and states. Callers see the same TaskSnapshot.
 */
import { States, statePrecedence, type TaskState, type JsonValue } from '../types.js';
import type { EventOrder } from './clock.js';

/** `TASK_EVENT_TO_STATE`: the task-* events with a built-in state; any other subject is a custom state. */
export const TASK_EVENT_TO_STATE: Readonly<Record<string, TaskState>> = {
  sent: States.PENDING,
  received: States.RECEIVED,
  started: States.STARTED,
  failed: States.FAILURE,
  retried: States.RETRY,
  succeeded: States.SUCCESS,
  revoked: States.REVOKED,
  rejected: States.REJECTED,
};

/** `Task.merge_rules`: the fields a late task-received still contributes. */
const MERGE_RULES: Readonly<Record<string, ReadonlySet<string>>> = {
  [States.RECEIVED]: new Set(['name', 'args', 'kwargs', 'parent_id', 'root_id', 'retries', 'eta', 'expires']),
};

/**
 * Event fields that are the envelope (who sent it, when it arrived) or that the state sets itself: not stored on
 * the task. Celery copies them onto its Task object too; `worker` and `client` say who sent what here.
 */
const NOT_MERGED = new Set([
  'type',
  'uuid',
  'hostname',
  'pid',
  'utcoffset',
  'local_received',
  'state',
  'worker',
  'children',
]);

/** One event in a task's timeline. */
export interface TaskEventEntry {
  /** The event type, e.g. `task-started`, `task-progress`. */
  readonly type: string;
  /** The state the event stands for (`STARTED`, `PROGRESS`), whether or not it became the task's state. */
  readonly state: TaskState;
  /** The sender's time (seconds, localized by the receiver). */
  readonly timestamp: number;
  readonly clock: number;
  /** The sender: a worker's hostname, or the client's for task-sent. */
  readonly hostname: string;
}

/** The read-only view of a task that EventsState hands out. Times are seconds since the epoch. */
export interface TaskSnapshot {
  readonly uuid: string;
  readonly name: string | null;
  readonly state: TaskState;
  readonly sent: number | null;
  readonly received: number | null;
  readonly started: number | null;
  readonly succeeded: number | null;
  readonly failed: number | null;
  readonly retried: number | null;
  readonly revoked: number | null;
  readonly rejected: number | null;
  /** Celery's repr of the positional arguments, e.g. `(2, 2)`. */
  readonly args: string | null;
  readonly kwargs: string | null;
  readonly eta: string | null;
  readonly expires: string | null;
  readonly retries: number | null;
  /** The hostname of the worker of the task's last worker-side event. */
  readonly worker: string | null;
  /** The hostname of the client that sent it (task-sent). */
  readonly client: string | null;
  /** Repr of the return value (task-succeeded). */
  readonly result: string | null;
  /** Repr of the exception (task-failed, task-retried). */
  readonly exception: string | null;
  readonly traceback: string | null;
  /** Seconds the task ran (task-succeeded). */
  readonly runtime: number | null;
  /** Time of the event that last set the state (or last merged fields). */
  readonly timestamp: number | null;
  readonly clock: number;
  readonly exchange: string | null;
  readonly routingKey: string | null;
  readonly queue: string | null;
  readonly rootId: string | null;
  readonly parentId: string | null;
  /** Ids of the tasks known to name this one as their parent. */
  readonly childIds: readonly string[];
  /** Other fields of its events: custom ones (`current`, `total`), `requeue`, `terminated`, `signum`, ... */
  readonly extra: Readonly<Record<string, JsonValue>>;
  /** Its events in timestamp order (the newest `maxTaskHistory`). */
  readonly history: readonly TaskEventEntry[];
  /** True in a ready state (SUCCESS, FAILURE, REVOKED). */
  readonly ready: boolean;
}

const EMPTY: Record<string, JsonValue> = Object.freeze({});
const NO_EVENTS: readonly (string | number)[] = Object.freeze([]);
/** Slots per event in a packed timeline. */
const STRIDE = 4;

/** The state an event type stands for: `task-started` is STARTED, `task-progress` the custom state PROGRESS. */
function stateOfType(type: string): TaskState {
  const subject = type.startsWith('task-') ? type.slice(5) : type;
  return TASK_EVENT_TO_STATE[subject] ?? subject.toUpperCase();
}

/**
 * The fields most tasks never set (sent only with `task_send_sent_event`; retried, revoked and rejected times;
 * failure details; routing, which only task-sent carries; canvas links; custom fields), in one object allocated
 * on the first non-null write: 15 slots fewer on every task, about 11 MB per 100,000 tasks.
 */
class RareFields {
  sent: number | null = null;
  retried: number | null = null;
  revoked: number | null = null;
  rejected: number | null = null;
  eta: string | null = null;
  expires: string | null = null;
  client: string | null = null;
  exception: string | null = null;
  traceback: string | null = null;
  exchange: string | null = null;
  routingKey: string | null = null;
  queue: string | null = null;
  parentId: string | null = null;
  children: Set<TaskRecord> | null = null;
  /** Parent ids this task was linked under (usually one), so that eviction can unlink it. */
  linkedParents: string[] | null = null;
  extra: Record<string, JsonValue> = EMPTY;
}

export class TaskRecord implements TaskSnapshot {
  name: string | null = null;
  state: TaskState = States.PENDING;
  received: number | null = null;
  started: number | null = null;
  succeeded: number | null = null;
  failed: number | null = null;
  args: string | null = null;
  kwargs: string | null = null;
  retries: number | null = null;
  worker: string | null = null;
  result: string | null = null;
  runtime: number | null = null;
  timestamp: number | null = null;
  clock = 0;
  rootId: string | null = null;
  /**
   * The timeline, packed: STRIDE slots per event (type, hostname, timestamp, clock), in timestamp order, in an
   * array of exactly that length. An entry object per event cost about 80 bytes plus the array's growth slack;
   * this costs 32 bytes plus the timestamp's number. `history` decodes it.
   */
  private timeline: readonly (string | number)[] = NO_EVENTS;
  /** The latest of its events in Lamport order (kombu's timetuple), for `tasksByTime`. */
  orderClock = 0;
  orderTimestamp = 0;
  /** The sender of that event; null until the first event. */
  orderOrigin: string | null = null;
  /** Neighbours in the state's recency list (eviction order). */
  older: TaskRecord | null = null;
  newer: TaskRecord | null = null;
  private rare: RareFields | null = null;
  /**
   * The searchable text (args, kwargs, result, exception, lower-cased), made by the first search that needs it
   * and dropped when one of those fields changes (`searchText()`).
   */
  private searchable: string | null = null;

  constructor(
    readonly uuid: string,
    /** Creation sequence number: ties in sorting, and the order of first sight. */
    readonly seq: number,
  ) {}

  get sent(): number | null {
    return this.rare === null ? null : this.rare.sent;
  }

  set sent(value: number | null) {
    if (value !== null || this.rare !== null) this.more().sent = value;
  }

  get retried(): number | null {
    return this.rare === null ? null : this.rare.retried;
  }

  set retried(value: number | null) {
    if (value !== null || this.rare !== null) this.more().retried = value;
  }

  get revoked(): number | null {
    return this.rare === null ? null : this.rare.revoked;
  }

  set revoked(value: number | null) {
    if (value !== null || this.rare !== null) this.more().revoked = value;
  }

  get rejected(): number | null {
    return this.rare === null ? null : this.rare.rejected;
  }

  set rejected(value: number | null) {
    if (value !== null || this.rare !== null) this.more().rejected = value;
  }

  get eta(): string | null {
    return this.rare === null ? null : this.rare.eta;
  }

  set eta(value: string | null) {
    if (value !== null || this.rare !== null) this.more().eta = value;
  }

  get expires(): string | null {
    return this.rare === null ? null : this.rare.expires;
  }

  set expires(value: string | null) {
    if (value !== null || this.rare !== null) this.more().expires = value;
  }

  get client(): string | null {
    return this.rare === null ? null : this.rare.client;
  }

  set client(value: string | null) {
    if (value !== null || this.rare !== null) this.more().client = value;
  }

  get exception(): string | null {
    return this.rare === null ? null : this.rare.exception;
  }

  set exception(value: string | null) {
    if (value !== null || this.rare !== null) this.more().exception = value;
  }

  get traceback(): string | null {
    return this.rare === null ? null : this.rare.traceback;
  }

  set traceback(value: string | null) {
    if (value !== null || this.rare !== null) this.more().traceback = value;
  }

  get exchange(): string | null {
    return this.rare === null ? null : this.rare.exchange;
  }

  set exchange(value: string | null) {
    if (value !== null || this.rare !== null) this.more().exchange = value;
  }

  get routingKey(): string | null {
    return this.rare === null ? null : this.rare.routingKey;
  }

  set routingKey(value: string | null) {
    if (value !== null || this.rare !== null) this.more().routingKey = value;
  }

  get queue(): string | null {
    return this.rare === null ? null : this.rare.queue;
  }

  set queue(value: string | null) {
    if (value !== null || this.rare !== null) this.more().queue = value;
  }

  get parentId(): string | null {
    return this.rare === null ? null : this.rare.parentId;
  }

  set parentId(value: string | null) {
    if (value !== null || this.rare !== null) this.more().parentId = value;
  }

  get children(): Set<TaskRecord> | null {
    return this.rare === null ? null : this.rare.children;
  }

  set children(value: Set<TaskRecord> | null) {
    if (value !== null || this.rare !== null) this.more().children = value;
  }

  get linkedParents(): string[] | null {
    return this.rare === null ? null : this.rare.linkedParents;
  }

  set linkedParents(value: string[] | null) {
    if (value !== null || this.rare !== null) this.more().linkedParents = value;
  }

  get extra(): Readonly<Record<string, JsonValue>> {
    return this.rare === null ? EMPTY : this.rare.extra;
  }

  private more(): RareFields {
    return (this.rare ??= new RareFields());
  }

  get ready(): boolean {
    return this.state === States.SUCCESS || this.state === States.FAILURE || this.state === States.REVOKED;
  }

  /** Its events in timestamp order, decoded from the packed timeline (a new array on each read). */
  get history(): readonly TaskEventEntry[] {
    const timeline = this.timeline;
    const out: TaskEventEntry[] = [];
    for (let i = 0; i < timeline.length; i += STRIDE) {
      const type = timeline[i] as string;
      out.push({
        type,
        state: stateOfType(type),
        timestamp: timeline[i + 2] as number,
        clock: timeline[i + 3] as number,
        hostname: timeline[i + 1] as string,
      });
    }
    return out;
  }

  /** The latest event's place in Lamport order, null before the first event. */
  get order(): EventOrder | null {
    const origin = this.orderOrigin;
    return origin === null ? null : { clock: this.orderClock, timestamp: this.orderTimestamp, origin };
  }

  /** Keeps (clock, timestamp, origin) when it is later than the task's latest event so far. */
  updateOrder(clock: number, timestamp: number, origin: string): void {
    if (this.orderOrigin !== null) {
      const later =
        clock && this.orderClock
          ? clock === this.orderClock
            ? origin > this.orderOrigin
            : clock > this.orderClock
          : timestamp > this.orderTimestamp;
      if (!later) return;
    }
    this.orderClock = clock;
    this.orderTimestamp = timestamp;
    this.orderOrigin = origin;
  }

  get childIds(): readonly string[] {
    return this.children ? [...this.children].map((child) => child.uuid) : [];
  }

  /**
   * `Task.event(type_, timestamp, local_received, fields)`: merges one task event whose type is `task-<subject>`.
   * Returns the state the event stands for.
   */
  apply(subject: string, timestamp: number, event: Readonly<Record<string, JsonValue>>): TaskState {
    const builtin = TASK_EVENT_TO_STATE[subject];
    if (builtin !== undefined) this.setTime(subject, timestamp);
    const state = builtin ?? subject.toUpperCase();
    // Precedence is inverted: a larger number is a weaker state, one that logically happened before.
    if (
      state !== States.RETRY &&
      this.state !== States.RETRY &&
      statePrecedence(state) > statePrecedence(this.state)
    ) {
      const keep = MERGE_RULES[state];
      this.mergeFields(event, keep);
    } else {
      this.mergeFields(event, undefined);
      this.state = state;
      this.timestamp = timestamp;
    }
    return state;
  }

  private setTime(subject: string, timestamp: number): void {
    switch (subject) {
      case 'sent':
        this.sent = timestamp;
        break;
      case 'received':
        this.received = timestamp;
        break;
      case 'started':
        this.started = timestamp;
        break;
      case 'failed':
        this.failed = timestamp;
        break;
      case 'retried':
        this.retried = timestamp;
        break;
      case 'succeeded':
        this.succeeded = timestamp;
        break;
      case 'revoked':
        this.revoked = timestamp;
        break;
      default:
        this.rejected = timestamp;
    }
  }

  private mergeFields(
    event: Readonly<Record<string, JsonValue>>,
    keep: ReadonlySet<string> | undefined,
  ): void {
    for (const key in event) {
      if (keep !== undefined && !keep.has(key)) continue;
      const value = event[key] as JsonValue;
      if (!this.setKnown(key, value) && !NOT_MERGED.has(key)) {
        const rare = this.more();
        if (rare.extra === EMPTY) rare.extra = {};
        rare.extra[key] = value;
      }
    }
  }

  /**
   * Args, kwargs, result and exception, lower-cased, separated by NUL (so that no match spans two fields): one
   * `includes` per task for a text search over those four, instead of a case-insensitive expression per field.
   */
  searchText(): string {
    return (this.searchable ??=
      `${this.args ?? ''}\0${this.kwargs ?? ''}\0${this.result ?? ''}\0${this.exception ?? ''}`.toLowerCase());
  }

  /** The fields Celery's Task knows, typed; a value of the wrong type is kept as null (text: its JSON). */
  private setKnown(key: string, value: JsonValue): boolean {
    switch (key) {
      case 'name':
        this.name = text(value);
        return true;
      case 'args':
        this.args = text(value);
        this.searchable = null;
        return true;
      case 'kwargs':
        this.kwargs = text(value);
        this.searchable = null;
        return true;
      case 'result':
        this.result = text(value);
        this.searchable = null;
        return true;
      case 'exception':
        this.exception = text(value);
        this.searchable = null;
        return true;
      case 'traceback':
        this.traceback = text(value);
        return true;
      case 'retries':
        this.retries = num(value);
        return true;
      case 'runtime':
        this.runtime = num(value);
        return true;
      case 'timestamp':
        this.timestamp = num(value);
        return true;
      case 'clock':
        this.clock = num(value) ?? 0;
        return true;
      default:
        return this.setRouting(key, value);
    }
  }

  private setRouting(key: string, value: JsonValue): boolean {
    switch (key) {
      case 'eta':
        this.eta = text(value);
        return true;
      case 'expires':
        this.expires = text(value);
        return true;
      case 'exchange':
        this.exchange = text(value);
        return true;
      case 'routing_key':
        this.routingKey = text(value);
        return true;
      case 'queue':
        this.queue = text(value);
        return true;
      case 'root_id':
        this.rootId = text(value);
        return true;
      case 'parent_id':
        this.parentId = text(value);
        return true;
      default:
        return false;
    }
  }

  /**
   * Adds an event to the timeline in timestamp order (after equal times), keeping the newest `max` entries. The
   * type and hostname should be shared (interned) strings: every task holds the same few.
   */
  record(type: string, hostname: string, timestamp: number, clock: number, max: number): void {
    const old = this.timeline;
    let index = old.length;
    while (index > 0 && (old[index - STRIDE + 2] as number) > timestamp) index -= STRIDE;
    // Full: the oldest entry goes, which is the new one itself when it is older than all the others.
    const drop = old.length + STRIDE > max * STRIDE ? STRIDE : 0;
    if (drop > 0 && index === 0) return;
    const next = new Array<string | number>(old.length + STRIDE - drop);
    let to = 0;
    for (let i = drop; i < index; i += 1) next[to++] = old[i] as string | number;
    next[to++] = type;
    next[to++] = hostname;
    next[to++] = timestamp;
    next[to++] = clock;
    for (let i = index; i < old.length; i += 1) next[to++] = old[i] as string | number;
    this.timeline = next;
  }

  /** Celery's `Task.as_dict()`, with the worker as its hostname and the children as ids (Flower's shape). */
  asDict(): Record<string, JsonValue> {
    return {
      uuid: this.uuid,
      name: this.name,
      state: this.state,
      received: this.received,
      sent: this.sent,
      started: this.started,
      rejected: this.rejected,
      succeeded: this.succeeded,
      failed: this.failed,
      retried: this.retried,
      revoked: this.revoked,
      args: this.args,
      kwargs: this.kwargs,
      eta: this.eta,
      expires: this.expires,
      retries: this.retries,
      worker: this.worker,
      result: this.result,
      exception: this.exception,
      timestamp: this.timestamp,
      runtime: this.runtime,
      traceback: this.traceback,
      exchange: this.exchange,
      routing_key: this.routingKey,
      clock: this.clock,
      client: this.client,
      root: this.rootId,
      root_id: this.rootId,
      parent: this.parentId,
      parent_id: this.parentId,
      children: [...this.childIds],
    };
  }
}

function text(value: JsonValue): string | null {
  if (value === null || typeof value === 'string') return value;
  return JSON.stringify(value);
}

function num(value: JsonValue): number | null {
  return typeof value === 'number' ? value : null;
}
