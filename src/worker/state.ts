/**
 * What this worker knows about its own work, in one place, as Celery's `celery/worker/state.py`: the requests it
 * holds (scheduled for an ETA, reserved, active), the ids it must not run (revoked) and the ones it ran
 * (successful), what it processed (in total and per task, Celery's `total_count`), its registered tasks with the
 * settings and limits they run with, its pool size, prefetch and start time. Remote control (`inspect active`,
 * `reserved`, `scheduled`, `revoked`, `stats`, `registered`, `query_task`), heartbeats and the dashboard read it;
 * the consumer, the executor and settlement write it.
 *
 * A request moves `received -> [scheduled ->] [reserved ->] active -> ready` (`Request.phase`, written only here);
 * it can leave for `ready` from any phase (discarded, given back, lost). Each move is one Set operation.
 */
import type { Celery } from '../app/celery.js';
import { ImproperlyConfigured } from '../errors.js';
import {
  LimitedSet,
  REVOKE_EXPIRES,
  REVOKES_MAX,
  SUCCESSFUL_EXPIRES,
  SUCCESSFUL_MAX,
} from './limited-set.js';
import { taskSettings, type Request, type TaskRecord, type WorkerTaskDefaults } from './request.js';

export type { TaskRecord } from './request.js';

/** `query_task`: Celery's `[state, info]` per id this worker holds. */
export type QueryTaskReply = Record<string, ['active' | 'reserved', ReturnType<Request['info']>]>;

export interface StateOptions {
  readonly app: Celery;
  readonly hostname: string;
  /** Worker-wide task defaults (`--time-limit`, `--soft-time-limit`). */
  readonly taskDefaults?: WorkerTaskDefaults;
  /** Prefetch without ETA or rate-limit credits (concurrency x multiplier; 0 = unlimited). */
  readonly prefetch: number;
  /** The pool's processes, threads or async slots now. */
  readonly poolSize: () => number;
  /** Milliseconds since the epoch (injectable for tests). */
  readonly now?: () => number;
}

export class State {
  readonly hostname: string;
  /** When the worker started (ms since the epoch). */
  readonly startedAt: number;
  /** Requests held for their ETA. */
  readonly scheduled = new Set<Request>();
  /** Requests received and waiting for a rate-limit token or a pool slot. */
  readonly reserved = new Set<Request>();
  /** Requests that have their pool slot (running, or about to). */
  readonly active = new Set<Request>();
  /** Ids this worker must not run (remote revoke fills it): Celery's 50,000 ids, 3 h each. */
  readonly revoked = new LimitedSet({ maxlen: REVOKES_MAX, expires: REVOKE_EXPIRES });
  /** Ids of tasks that succeeded here lately (`workerDeduplicateSuccessfulTasks`). */
  readonly successful = new LimitedSet({ maxlen: SUCCESSFUL_MAX, expires: SUCCESSFUL_EXPIRES });
  /** Requests started since the worker did, all tasks together (Celery's `all_total_count`). */
  accepted = 0;
  /** Requests finished since the worker started (whatever their outcome). */
  processed = 0;
  /** Prefetch now, ETA and rate-limit credits included (settlement.ts keeps it). */
  prefetchCount: number;
  private readonly records = new Map<string, TaskRecord>();
  private readonly now: () => number;

  constructor(private readonly options: StateOptions) {
    this.hostname = options.hostname;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.prefetchCount = options.prefetch;
  }

  /** Prefetch without credits. */
  get prefetch(): number {
    return this.options.prefetch;
  }

  get poolSize(): number {
    return this.options.poolSize();
  }

  /** Seconds since start. */
  get uptime(): number {
    return Math.round((this.now() - this.startedAt) / 1000);
  }

  /** The record of a registered task, or undefined for a task this worker does not know. */
  task(name: string): TaskRecord | undefined {
    return this.records.get(name) ?? this.register(name);
  }

  /** Every registered task's record (builtins included). */
  tasks(): TaskRecord[] {
    for (const name of this.options.app.tasks.keys()) this.task(name);
    return [...this.records.values()];
  }

  /** Registered task names, sorted; Celery's `celery.*` builtins only when asked (`inspect registered`). */
  registered(options: { builtins?: boolean } = {}): string[] {
    return this.tasks()
      .map((record) => record.name)
      .filter((name) => options.builtins || !name.startsWith('celery.'))
      .sort();
  }

  /** Requests started per task name, for tasks that ran at least once (`stats()['total']`). */
  total(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const record of this.records.values()) if (record.total > 0) out[record.name] = record.total;
    return out;
  }

  /** Changes a task's time limits (seconds or null) for the requests that start from now on. */
  setTimeLimit(name: string, limits: { soft: number | null; hard: number | null }): void {
    const record = this.task(name);
    if (!record) {
      throw new ImproperlyConfigured(`Cannot set the time limits of ${name}: no such task on this worker`);
    }
    record.settings.softTimeLimit = limits.soft;
    record.settings.timeLimit = limits.hard;
  }

  /** Held until its ETA. */
  schedule(request: Request): void {
    request.phase = 'scheduled';
    this.scheduled.add(request);
  }

  /** Waiting for a rate-limit token or a pool slot (a no-op when already reserved). */
  reserve(request: Request): void {
    if (request.phase === 'reserved') return;
    if (request.phase === 'scheduled') this.scheduled.delete(request);
    request.phase = 'reserved';
    this.reserved.add(request);
  }

  /** Took a pool slot. */
  accept(request: Request): void {
    if (request.phase === 'reserved') this.reserved.delete(request);
    else if (request.phase === 'scheduled') this.scheduled.delete(request);
    request.phase = 'active';
    this.active.add(request);
  }

  /** The task itself starts now (after the revoke and duplicate checks), in process `pid` when known. */
  started(request: Request, pid: number | null): void {
    request.startedAt = performance.now();
    request.workerPid = pid;
    request.record.total++;
    this.accepted++;
  }

  /** Left this worker: finished (counted as processed when it had its slot), discarded, given back or lost. */
  ready(request: Request): void {
    switch (request.phase) {
      case 'active':
        this.active.delete(request);
        this.processed++;
        break;
      case 'reserved':
        this.reserved.delete(request);
        break;
      case 'scheduled':
        this.scheduled.delete(request);
        break;
      default:
    }
    request.phase = 'ready';
  }

  /** Requests held with one of these ids, and where (`query_task`; ETA-held requests count as reserved). */
  queryTask(ids: Iterable<string>): QueryTaskReply {
    const wanted = new Set(ids);
    const out: QueryTaskReply = {};
    for (const request of [...this.active, ...this.reserved, ...this.scheduled]) {
      if (!wanted.has(request.id) || out[request.id]) continue;
      out[request.id] = [request.phase === 'active' ? 'active' : 'reserved', request.info()];
    }
    return out;
  }

  private register(name: string): TaskRecord | undefined {
    const { app, taskDefaults } = this.options;
    const task = app.tasks.get(name);
    if (!task) return undefined;
    const rate = task.options.rateLimit;
    const record: TaskRecord = {
      name,
      task,
      settings: taskSettings(task, app.conf, taskDefaults),
      rateLimit: rate !== undefined ? rate : app.conf.taskDefaultRateLimit,
      total: 0,
    };
    this.records.set(name, record);
    return record;
  }
}
