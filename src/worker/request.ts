/**
 * A received task: the decoded message, its delivery, its registered task and the settings that apply to it
 * (task options over app configuration), computed once.
 */
import type { RequestInfoReply } from '../control/replies.js';
import type { Config } from '../app/config.js';
import { ImproperlyConfigured } from '../errors.js';
import type { TaskRequest } from '../app/context.js';
import type { Task } from '../app/task.js';
import type { StoreContext } from '../backends/backend.js';
import type { Delivery } from '../brokers/broker.js';
import type { TaskMessage } from '../protocol/message.js';
import { saferepr } from '../protocol/pyrepr.js';

export interface TaskSettings {
  acksLate: boolean;
  acksOnFailureOrTimeout: boolean;
  rejectOnWorkerLost: boolean;
  trackStarted: boolean;
  ignoreResult: boolean;
  storeErrorsEvenIfIgnored: boolean;
  /** Seconds, or null. */
  timeLimit: number | null;
  softTimeLimit: number | null;
  /** Whether this task sends task-* events (when the worker sends events). */
  sendEvents: boolean;
}

/** A registered task as this worker runs it (kept by state.ts, one per task name). */
export interface TaskRecord {
  readonly name: string;
  readonly task: Task<unknown[], unknown>;
  /**
   * The settings its requests run with (task options over worker options over the app's). Time limits changed
   * here (`State.setTimeLimit`) apply to every request that has not started yet, as Celery's `time_limit` command.
   */
  readonly settings: TaskSettings;
  /** The rate limit as configured or last set (`"10/s"`, tasks per second, or null); the consumer applies it. */
  rateLimit: string | number | null;
  /** Requests of this task that started since the worker did (Celery's `total_count[name]`). */
  total: number;
}

/** Worker-wide defaults (`--time-limit`, `--soft-time-limit`) between the task's own options and the app's. */
export interface WorkerTaskDefaults {
  readonly timeLimit?: number | null | undefined;
  readonly softTimeLimit?: number | null | undefined;
}

/** Checks the worker's own time limits (WorkerOptions, `--time-limit`, `--soft-time-limit`). */
export function workerTaskDefaults(options: WorkerTaskDefaults): WorkerTaskDefaults {
  for (const key of ['timeLimit', 'softTimeLimit'] as const) {
    const value = options[key];
    if (value != null && !(Number.isFinite(value) && value > 0)) {
      throw new ImproperlyConfigured(`${key} must be a positive number of seconds or null, got ${value}`);
    }
  }
  return { timeLimit: options.timeLimit, softTimeLimit: options.softTimeLimit };
}

/**
 * The settings that apply to a task on this worker: the task's options, then the worker's, then the app's
 * configuration. (A message's `timelimit` header wins over all of them, see `Request.timeLimits`.)
 */
export function taskSettings(
  task: Task<unknown[], unknown>,
  conf: Config,
  worker: WorkerTaskDefaults = {},
): TaskSettings {
  const o = task.options;
  return {
    acksLate: o.acksLate ?? conf.taskAcksLate,
    acksOnFailureOrTimeout: o.acksOnFailureOrTimeout ?? conf.taskAcksOnFailureOrTimeout,
    rejectOnWorkerLost: o.rejectOnWorkerLost ?? conf.taskRejectOnWorkerLost,
    trackStarted: o.trackStarted ?? conf.taskTrackStarted,
    ignoreResult: o.ignoreResult ?? conf.taskIgnoreResult,
    storeErrorsEvenIfIgnored: o.storeErrorsEvenIfIgnored ?? conf.taskStoreErrorsEvenIfIgnored,
    timeLimit: o.timeLimit ?? worker.timeLimit ?? conf.taskTimeLimit,
    softTimeLimit: o.softTimeLimit ?? worker.softTimeLimit ?? conf.taskSoftTimeLimit,
    sendEvents: o.sendEvents ?? true,
  };
}

/**
 * What became of a request's delivery (settlement.ts writes it, exactly once per transition):
 * - `held`: reserved by this worker, not settled;
 * - `deferring`: being handed back to the broker until its ETA (`defer`); back to `held` if that fails;
 * - `acked`, `deferred`: gone from the queue for good (a deferred one comes back as a new delivery);
 * - `requeued`: rejected with requeue (back of its queue); `given-back`: requeued to be delivered next (shutdown);
 * - `dead-lettered`: rejected without requeue (to the dead letters where the broker keeps them);
 * - `lost`: the broker lost it (channel closed, lease taken) and delivers it again.
 */
export type Fate =
  'held' | 'deferring' | 'acked' | 'deferred' | 'requeued' | 'given-back' | 'dead-lettered' | 'lost';

/**
 * Where a request is in this worker (state.ts writes it): `received` (decoded, not yet placed), `scheduled` (held
 * for its ETA), `reserved` (waiting for a rate-limit token or a pool slot), `active` (has its pool slot), `ready`
 * (gone: finished, discarded, given back or lost).
 */
export type Phase = 'received' | 'scheduled' | 'reserved' | 'active' | 'ready';

/** A request as Celery's `Request.info()` describes it (the entries of `inspect active|reserved|scheduled`). */
export type RequestInfo = RequestInfoReply;

export class Request {
  /** What became of the delivery; written only by settlement.ts. */
  fate: Fate = 'held';
  /** Where it is in this worker; written only by state.ts. */
  phase: Phase = 'received';
  /** Prefetch credit held while it waits for its ETA, and for a rate-limit token; written only by settlement.ts. */
  etaCredit = false;
  rateCredit = false;
  /** `performance.now()` when the pool started it (0 before). */
  startedAt = 0;
  /** The pid of the process running it, once known. */
  workerPid: number | null = null;
  /**
   * Set once the outcome is recorded. A task abandoned at its hard time limit may still be running in the async
   * pool; from then on its `updateState` calls are dropped so they cannot overwrite the recorded FAILURE.
   */
  finished = false;
  /** The signal name when remote control terminated it (`revoke(terminate=True)`), else null. */
  terminated: string | null = null;

  readonly task: Task<unknown[], unknown>;
  /** Its task's settings (shared by every request of the task). */
  readonly settings: TaskSettings;

  constructor(
    readonly message: TaskMessage,
    readonly delivery: Delivery,
    readonly record: TaskRecord,
    readonly hostname: string,
  ) {
    this.task = record.task;
    this.settings = record.settings;
  }

  get id(): string {
    return this.message.id;
  }

  /** Where this request's results go (the rpc backend sends them to `reply_to`). */
  get storeContext(): StoreContext {
    return { replyTo: this.message.replyTo, correlationId: this.message.correlationId };
  }

  get name(): string {
    return this.message.task;
  }

  /** `tasks.add[<id>]`, as Celery names a task in its logs (the shadow name when one was given). */
  get label(): string {
    return `${this.message.shadow ?? this.message.task}[${this.message.id}]`;
  }

  /** The message ignore_result flag or the task's own setting. */
  get ignoreResult(): boolean {
    return this.message.ignoreResult || this.settings.ignoreResult;
  }

  /** Hard and soft limits in seconds: the message's `timelimit` header wins over task and app settings. */
  get timeLimits(): { hard: number | null; soft: number | null } {
    const [hard, soft] = this.message.timelimit;
    return { hard: hard ?? this.settings.timeLimit, soft: soft ?? this.settings.softTimeLimit };
  }

  /** Whether its delivery was acknowledged, rejected, requeued, deferred or lost (anything but `held`). */
  get settled(): boolean {
    return this.fate !== 'held';
  }

  isExpired(now: number): boolean {
    return this.message.expires !== null && this.message.expires <= now;
  }

  /** Celery's `Request.info(safe)`: what `inspect active|reserved|scheduled|query_task` report for it. */
  info(safe = false): RequestInfo {
    const m = this.message;
    return {
      id: m.id,
      name: m.task,
      args: safe ? (m.argsrepr ?? saferepr(m.args, 1024)) : m.args,
      kwargs: safe ? (m.kwargsrepr ?? saferepr(m.kwargs, 1024)) : m.kwargs,
      type: m.task,
      hostname: this.hostname,
      time_start: this.startedAt === 0 ? null : (performance.timeOrigin + this.startedAt) / 1000,
      acknowledged: this.fate === 'acked',
      delivery_info: {
        exchange: this.delivery.exchange,
        routing_key: this.delivery.routingKey,
        priority: m.priority,
        redelivered: this.delivery.redelivered,
      },
      worker_pid: this.workerPid,
    };
  }

  /** The request as the task sees it. */
  context(isEager = false): TaskRequest {
    const m = this.message;
    return {
      id: m.id,
      task: m.task,
      args: m.args,
      kwargs: m.kwargs,
      retries: m.retries,
      eta: m.eta === null ? null : new Date(m.eta),
      expires: m.expires === null ? null : new Date(m.expires),
      group: m.group,
      groupIndex: m.groupIndex,
      rootId: m.rootId,
      parentId: m.parentId,
      hostname: this.hostname,
      deliveryInfo: {
        exchange: this.delivery.exchange,
        routingKey: this.delivery.routingKey,
        priority: m.priority,
        redelivered: this.delivery.redelivered,
      },
      correlationId: m.correlationId,
      replyTo: m.replyTo,
      headers: m.headers,
      timelimit: m.timelimit,
      origin: m.origin,
      ignoreResult: this.ignoreResult,
      isEager,
      shadow: m.shadow,
      embed: m.embed,
      queue: this.delivery.queue,
    };
  }
}
