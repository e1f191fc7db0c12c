/**
 * The result backend seam. Every driver (memory, sqlite, redis, rpc, ...) implements it and passes
 * `conformance/`. Meta documents are Celery's own (reference §2.7.2), so Python clients read what we store.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '../lifecycle/logger.js';
import type { AcceptPolicy } from '../protocol/serializers/index.js';
import type { JsonValue, ResultMeta, ResultTuple } from '../types.js';
import type { DatabaseSettingsInput } from './database/settings.js';

export interface BackendCapabilities {
  /** Results survive a restart of the backend (or of the process, for embedded backends). */
  readonly persistent: boolean;
  /** Other processes can read what this one stores. */
  readonly shared: boolean;
  /** `waitFor` is notified of new results (pub/sub, reply queue) rather than polling. */
  readonly push: boolean;
  /** `saveGroup`/`getGroup` are available (GroupResult save and restore). */
  readonly groups: boolean;
  /** How a chord's header completion is detected; `none` refuses chords (rpc, as in Celery). */
  readonly chords: 'native' | 'none';
  /**
   * Results expire without help (Redis key TTLs, the sqlite backend's own sweep; Celery's `supports_autoexpire`).
   * When false (the database backend), expired results stay until `cleanup()` runs: the `celery.backend_cleanup`
   * task, which beat schedules daily at 04:00 for such backends, as Celery does.
   */
  readonly autoExpire: boolean;
}

export interface WaitOptions {
  /** Give up after this many milliseconds (rejects with TimeoutError). */
  readonly timeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Polling interval for backends without push, in milliseconds. */
  readonly intervalMs?: number | undefined;
  /** Called with each non-ready state seen while waiting (custom states, STARTED, RETRY). */
  readonly onProgress?: ((meta: ResultMeta) => void) | undefined;
}

/** The group document Celery stores under `celery-taskset-meta-<gid>`: `{"result": <group tuple>}`. */
export interface GroupMeta {
  result: ResultTuple;
}

/** A finished chord header task, as the chord counter records it (`[1, task_id, state, result]` in Celery). */
export interface ChordPart {
  readonly taskId: string;
  readonly state: string;
  /** The return value, or the serialized exception (`{exc_type, exc_message, exc_module}`) for a failure. */
  readonly result: JsonValue;
  /** Position in the header (`group_index`); null sorts last, as Celery's `+inf`. */
  readonly groupIndex: number | null;
}

/** What `addChordPart` saw right after recording a part. The chord is complete when `ready === size + extra`. */
export interface ChordProgress {
  /** Parts recorded so far. */
  readonly ready: number;
  /** The header size (`.s`), or null when no size was set (the chord can never fire). */
  readonly size: number | null;
  /** Parts added to the chord while it ran (`.t`, Celery's `add_to_chord`). */
  readonly extra: number;
}

/**
 * Native chord counting (reference §2.7.5: `celery-taskset-meta-<gid>.j`, `.s`, `.t`), for backends with
 * `capabilities.chords === 'native'`. Python Celery workers use the same keys, so mixed fleets count together.
 */
export interface ChordCounter {
  /** Stores the header size; call it before the last header task is published. */
  setChordSize(groupId: string, size: number): Promise<void>;
  /** Records a finished header part and reads the counts, in one round trip. */
  addChordPart(groupId: string, part: ChordPart): Promise<ChordProgress>;
  /** The recorded parts in header order: `[1, taskId, state, result]` each, as Celery stores them. */
  chordParts(groupId: string): Promise<[number, string, string, JsonValue][]>;
  /** Raises the expected number of parts by `count` (Celery's `add_to_chord`). */
  addToChord(groupId: string, count?: number): Promise<void>;
  /**
   * Takes the chord, atomically, for exactly one caller: with `'complete'` only once every part is recorded (the
   * caller then sends or fails the body), with `'incomplete'` only while parts are still missing (a failed part
   * failing the body early). The size is removed, so parts recorded later (by Celeriac or Python workers) find no
   * size and leave the body alone. Returns whether this caller took it.
   */
  claimChord(groupId: string, when: 'complete' | 'incomplete'): Promise<boolean>;
  /** Deletes the chord's keys once its body has been sent. */
  deleteChord(groupId: string): Promise<void>;
}

/** Where a result goes, for backends that send it to its caller (rpc): taken from the task's request. */
export interface StoreContext {
  /** The request's `reply_to` (its caller's oid); a result without one is not sent anywhere by the rpc backend. */
  readonly replyTo?: string | null | undefined;
  /** The request's `correlation_id`; the task id when absent. */
  readonly correlationId?: string | null | undefined;
}

export interface ResultBackend {
  /** The URL with any password masked. */
  readonly url: string;
  readonly capabilities: BackendCapabilities;
  connect(): Promise<void>;
  /**
   * Stores a task state. A stored SUCCESS is never overwritten (`celery/backends/base.py:944`), so a late
   * duplicate cannot replace a good result. Drivers may batch writes; the promise resolves once written.
   * The worker passes the request's `context`; without one, the rpc backend sends the result to its own client.
   */
  store(meta: ResultMeta, context?: StoreContext): Promise<void>;
  /** The stored meta, or null when nothing is stored (the task is PENDING). */
  get(taskId: string): Promise<ResultMeta | null>;
  /** Resolves with the meta once the task is in a ready state (SUCCESS, FAILURE, REVOKED). */
  waitFor(taskId: string, options?: WaitOptions): Promise<ResultMeta>;
  /** Called before a task is published, so that a push backend is listening before any result can exist. */
  onTaskCall?(taskId: string): Promise<void>;
  /** Deletes the stored result. */
  forget(taskId: string): Promise<void>;
  saveGroup(groupId: string, meta: GroupMeta): Promise<void>;
  getGroup(groupId: string): Promise<GroupMeta | null>;
  deleteGroup(groupId: string): Promise<void>;
  /** Present when `capabilities.chords` is `'native'`. */
  readonly chordCounter?: ChordCounter;
  /**
   * Deletes what is older than `resultExpires` (Celery's `backend.cleanup()`, called by `celery.backend_cleanup`).
   * Nothing to do for backends with `capabilities.autoExpire`.
   */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

export interface BackendContext {
  readonly logger: Logger;
  /** Seconds results are kept (`result_expires`); null keeps them forever. */
  readonly resultExpires: number | null;
  /** `result_backend_transport_options`, driver-specific. */
  readonly transportOptions: Readonly<Record<string, unknown>>;
  /** The app's broker URL and options, for backends that talk to the broker (rpc). */
  readonly brokerUrl?: string | undefined;
  readonly brokerTransportOptions?: Readonly<Record<string, unknown>> | undefined;
  /** The app's oid: the `reply_to` of the messages it sends, and the rpc backend's reply queue. */
  readonly oid?: string | undefined;
  /** The `database_*` settings, for the database backend (`db+...` URLs). */
  readonly database?: DatabaseSettingsInput | undefined;
  /** `resultAcceptContent` compiled: content types a backend that receives typed results (rpc) accepts. */
  readonly resultAccept?: AcceptPolicy | undefined;
  /** TLS options from `redisBackendUseSsl` (Redis backends). */
  readonly tls?: ConnectionOptions | undefined;
  /** TLS options from `brokerUseSsl`, for backends that talk to the broker (rpc). */
  readonly brokerTls?: ConnectionOptions | undefined;
}
