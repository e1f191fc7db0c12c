/**
 * A received task: the decoded message, its delivery, its registered task and the settings that apply to it
 * (task options over app configuration), computed once.
 */
import type { Config } from '../app/config.js';
import { ImproperlyConfigured } from '../errors.js';
import type { TaskRequest } from '../app/context.js';
import type { Task } from '../app/task.js';
import type { StoreContext } from '../backends/backend.js';
import type { Delivery } from '../brokers/broker.js';
import type { TaskMessage } from '../protocol/message.js';

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

export class Request {
  /** Set once the delivery has been acknowledged, rejected or requeued. */
  settled = false;
  /** `performance.now()` when the pool started it. */
  startedAt = 0;
  /**
   * Set once the outcome is recorded. A task abandoned at its hard time limit may still be running in the async
   * pool; from then on its `updateState` calls are dropped so they cannot overwrite the recorded FAILURE.
   */
  finished = false;

  constructor(
    readonly message: TaskMessage,
    readonly delivery: Delivery,
    readonly task: Task<unknown[], unknown>,
    readonly settings: TaskSettings,
    readonly hostname: string,
  ) {}

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

  isExpired(now: number): boolean {
    return this.message.expires !== null && this.message.expires <= now;
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
