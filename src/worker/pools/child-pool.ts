/**
 * The supervisor behind the `threads` and `prefork` pools (the two differ only in how a child is started and
 * killed: threads.ts, prefork.ts). Each child loads the app module itself and runs one task at a time; the
 * supervisor hands out jobs, enforces time limits, replaces children that die, recycles them
 * (maxTasksPerChild, maxMemoryPerChild), grows and shrinks, and stops them.
 *
 * As billiard does for Celery (`billiard/pool.py`):
 * - a hard time limit fails the task with TimeLimitExceeded at once, then ends its child and starts another;
 * - a child that dies while running a task fails it with WorkerLostError ("Worker exited prematurely: signal 9
 *   (SIGKILL) Job: 12."), which the executor turns into a requeue under acksLate + rejectOnWorkerLost;
 * - a dead child is always replaced, so the worker never sits with reserved tasks and nothing to run them.
 */
import type { PoolName } from '../../app/config.js';
import type { ResultBackend } from '../../backends/backend.js';
import type { Broker } from '../../brokers/broker.js';
import { ImproperlyConfigured, TimeLimitExceeded, WorkerLostError } from '../../errors.js';
import { deferred } from '../../lifecycle/async.js';
import type { Logger } from '../../lifecycle/logger.js';
import { serveCall } from './connections.js';
import { errorFromData, errorToData, type ChildInit, type FromChild } from './ipc.js';
import { terminatedOutcome, type Pool, type PoolInfo, type PoolJob, type PoolOutcome } from './pool.js';
import { PoolChild, relog, type ChildExit, type PoolTask, type SpawnChild } from './pool-child.js';

export interface ChildPoolOptions {
  readonly kind: Extract<PoolName, 'threads' | 'prefork'>;
  /** Children started at first (the autoscaler's minimum when it runs). */
  readonly size: number;
  readonly logger: Logger;
  /** `path[:name]` of the app module, absolute. */
  readonly appModule: string;
  readonly hostname: string;
  readonly broker: Broker;
  readonly backend: ResultBackend;
  readonly maxTasksPerChild: number | null;
  /** KiB (see ChildInit / FromChild `memory` for what is measured). */
  readonly maxMemoryPerChild: number | null;
  /** `ForkPoolWorker`, `ThreadPoolWorker`. */
  readonly processName: string;
  /** Milliseconds between asking a child to exit and killing it; 0 kills at once (threads stop even mid-loop). */
  readonly killGraceMs: number;
  readonly spawn: SpawnChild;
  /** Called when `concurrency` changes (grow, shrink), so the executor can start more jobs. */
  readonly onCapacityChange?: () => void;
  /** Called when children keep failing to start after the pool started: the worker cannot go on. */
  readonly onFatal?: (error: Error) => void;
}

/** Replacement children that fail to start this many times in a row make the pool give up. */
const MAX_START_FAILURES = 5;

export class ChildPool implements Pool {
  readonly kind: PoolName;
  private size: number;
  private readonly slots = new Map<number, PoolChild>();
  private readonly leaving = new Set<PoolChild>();
  private readonly queue: PoolTask[] = [];
  private readonly tasks = new Set<PoolTask>();
  /** `draining`: a warm stop waits for the tasks it has; `stopping`: its children are leaving or killed. */
  private state: 'new' | 'starting' | 'running' | 'draining' | 'stopping' | 'stopped' = 'new';
  private cold = false;
  private nextJob = 1;
  private nextName = 1;
  private startFailures = 0;
  private readonly respawns = new Set<NodeJS.Timeout>();
  private started = 0;
  private lost = 0;
  private recycled = 0;

  constructor(private readonly options: ChildPoolOptions) {
    this.kind = options.kind;
    this.size = options.size;
  }

  get concurrency(): number {
    return this.size;
  }

  async start(): Promise<void> {
    this.state = 'starting';
    for (let index = 1; index <= this.size; index++) this.spawnInto(index);
    try {
      await Promise.all([...this.slots.values()].map((child) => child.ready.promise));
    } catch (error) {
      await this.stop({ cold: true });
      throw new ImproperlyConfigured(
        `The ${this.kind} pool could not start its children: ${(error as Error).message}`,
      );
    }
    this.state = 'running';
  }

  run(job: PoolJob): Promise<PoolOutcome> {
    return new Promise<PoolOutcome>((resolve) => {
      const task: PoolTask = {
        id: this.nextJob++,
        job,
        label: `${job.task.name}[${job.request.id}]`,
        settled: false,
        child: undefined,
        timers: [],
        finished: deferred(),
        resolve,
      };
      this.tasks.add(task);
      this.queue.push(task);
      this.dispatch();
    });
  }

  grow(n: number): void {
    this.size += n;
    // Children about to leave after a shrink are kept when their slot exists again.
    for (const child of this.slots.values()) if (child.index <= this.size) child.leaveAfterTask = false;
    if (this.canSpawn()) {
      for (let index = 1; index <= this.size; index++) if (!this.slots.has(index)) this.spawnInto(index);
    }
    this.options.onCapacityChange?.();
  }

  shrink(n: number): void {
    this.size = Math.max(0, this.size - n);
    for (const child of [...this.slots.values()]) {
      if (child.index <= this.size) continue;
      if (child.state === 'busy') child.leaveAfterTask = true;
      else this.retire(child, false);
    }
    this.options.onCapacityChange?.();
  }

  info(): PoolInfo {
    const { maxTasksPerChild, maxMemoryPerChild, kind } = this.options;
    const children = [...this.slots.values()].sort((a, b) => a.index - b.index);
    return {
      implementation: `celeriac:${kind}`,
      'max-concurrency': this.size,
      // As Celery's: prefork lists its processes' pids, threads counts its threads (the ids are Celeriac's own).
      ...(kind === 'prefork'
        ? { processes: children.map((c) => c.handle.id) }
        : { threads: children.length, 'thread-ids': children.map((c) => c.handle.id) }),
      'max-tasks-per-child': maxTasksPerChild ?? 'N/A',
      'max-memory-per-child': maxMemoryPerChild ?? 'N/A',
      'children-started': this.started,
      'children-lost': this.lost,
      'children-recycled': this.recycled,
    };
  }

  async stop(options: { cold?: boolean } = {}): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    const cold = options.cold ?? false;
    this.cold = cold;
    if (!cold) {
      this.state = 'draining';
      await Promise.all([...this.tasks].map((task) => task.finished.promise));
    }
    this.state = 'stopping';
    for (const timer of this.respawns) clearTimeout(timer);
    const children = [...this.slots.values(), ...this.leaving];
    for (const child of children) {
      if (cold) child.handle.kill();
      else if (child.state !== 'leaving') child.leave(Math.max(this.options.killGraceMs, 10_000));
    }
    await Promise.all(children.map((child) => child.exited.promise));
    for (const task of this.tasks) for (const timer of task.timers) clearTimeout(timer);
    this.state = 'stopped';
  }

  private spawnInto(index: number): void {
    const name = `${this.options.processName}-${this.nextName++}`;
    const child = new PoolChild(index, name, this.options.logger.child({ proc: name }));
    this.slots.set(index, child);
    this.started++;
    const { options } = this;
    const init: ChildInit = {
      kind: options.kind,
      appModule: options.appModule,
      index,
      name,
      hostname: options.hostname,
      logLevel: options.logger.level,
      broker: { url: options.broker.url, capabilities: options.broker.capabilities },
      backend: options.backend.url.startsWith('disabled')
        ? null
        : { url: options.backend.url, capabilities: options.backend.capabilities },
    };
    try {
      child.handle = options.spawn(init, {
        onMessages: (batch) => this.receive(child, batch),
        onExit: (exit) => this.exited(child, exit),
        onOutput: (line) => child.log.warn(line),
      });
    } catch (error) {
      // Out of processes or threads: handled as a child that died while starting (retried with backoff).
      child.handle = { pid: -1, id: -1, send: () => undefined, kill: () => undefined };
      setImmediate(() => this.exited(child, { description: `spawn error (${(error as Error).message})` }));
    }
  }

  private receive(child: PoolChild, batch: FromChild[]): void {
    for (const message of batch) {
      switch (message.t) {
        case 'ready':
          child.state = child.state === 'starting' ? 'idle' : child.state;
          this.startFailures = 0;
          child.ready.resolve();
          break;
        case 'fatal':
          child.startError = errorFromData(message.error);
          break;
        case 'done':
          this.finish(child, message);
          break;
        case 'log':
          relog(child.log, message.line);
          break;
        case 'call':
          void this.serve(child, message);
          break;
      }
    }
    this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const child = [...this.slots.values()].find((c) => c.state === 'idle');
      if (!child) return;
      this.begin(child, this.queue.shift()!);
    }
  }

  private begin(child: PoolChild, task: PoolTask): void {
    child.state = 'busy';
    child.task = task;
    task.child = child;
    const { job } = task;
    job.onStart?.(child.pid);
    if (job.softTimeLimit !== null) {
      const soft = job.softTimeLimit;
      task.timers.push(
        setTimeout(() => {
          this.options.logger.warn(`Soft time limit (${soft}s) exceeded for ${task.label}`);
          child.outbox.push({ t: 'abort', jobId: task.id, soft });
        }, soft * 1000),
      );
    }
    if (job.timeLimit !== null) {
      const hard = job.timeLimit;
      task.timers.push(setTimeout(() => this.hardLimit(task, hard), hard * 1000));
    }
    child.outbox.push({ t: 'run', jobId: task.id, name: job.task.name, request: job.request });
  }

  private settle(task: PoolTask, outcome: PoolOutcome): void {
    if (task.settled) return;
    task.settled = true;
    for (const timer of task.timers) clearTimeout(timer);
    this.tasks.delete(task);
    task.resolve(outcome);
    task.finished.resolve();
  }

  private finish(child: PoolChild, message: Extract<FromChild, { t: 'done' }>): void {
    const task = child.task;
    if (!task || task.id !== message.jobId) return;
    child.task = undefined;
    child.tasks++;
    this.settle(
      task,
      message.ok ? { ok: true, value: message.value } : { ok: false, error: errorFromData(message.error) },
    );
    const { maxTasksPerChild, maxMemoryPerChild } = this.options;
    if (child.leaveAfterTask) {
      this.retire(child, false);
    } else if (maxTasksPerChild !== null && child.tasks >= maxTasksPerChild) {
      child.log.info(`${child.name} ran ${child.tasks} tasks (maxTasksPerChild): replacing it`);
      this.recycled++;
      this.retire(child, true);
    } else if (maxMemoryPerChild !== null && message.memory > maxMemoryPerChild) {
      child.log.warn(
        `${child.name} uses ${message.memory} KiB, over maxMemoryPerChild (${maxMemoryPerChild} KiB): replacing it`,
      );
      this.recycled++;
      this.retire(child, true);
    } else {
      child.state = 'idle';
    }
  }

  /** Takes a child out of its slot; asks it to exit; starts another in its place when `replace`. */
  private retire(child: PoolChild, replace: boolean, graceMs = 10_000): void {
    if (this.slots.get(child.index) === child) this.slots.delete(child.index);
    this.leaving.add(child);
    child.leave(graceMs);
    if (replace && this.canSpawn() && child.index <= this.size) this.spawnInto(child.index);
  }

  /** Dead or retired children are replaced while the pool runs, and while a warm stop still has tasks to run. */
  private canSpawn(): boolean {
    return this.state === 'starting' || this.state === 'running' || this.state === 'draining';
  }

  terminate(taskId: string, signal: string): boolean {
    const task = [...this.tasks].find((t) => t.job.request.id === taskId && !t.settled);
    if (!task) return false;
    this.settle(task, terminatedOutcome());
    const child = task.child;
    // Not started yet: it was only waiting for a child, and will not run.
    const waiting = this.queue.indexOf(task);
    if (waiting >= 0) this.queue.splice(waiting, 1);
    if (!child || child.task !== task) return true;
    child.task = undefined;
    this.options.logger.info(`Terminating ${task.label} (${signal}): ending ${child.name}`);
    this.retire(child, true, 0);
    return true;
  }

  private hardLimit(task: PoolTask, hard: number): void {
    if (task.settled) return;
    this.options.logger.error(`Hard time limit (${hard}s) exceeded for ${task.label}`);
    const error = new TimeLimitExceeded(`TimeLimitExceeded(${hard})`);
    (error as { pyArgs?: unknown[] }).pyArgs = [hard];
    this.settle(task, { ok: false, error });
    const child = task.child;
    if (!child || child.task !== task) return;
    child.task = undefined;
    // The task may be spinning in a loop that no message can interrupt: end the child, start another.
    this.retire(child, true, this.options.killGraceMs);
  }

  private exited(child: PoolChild, exit: ChildExit): void {
    clearTimeout(child.killTimer);
    this.leaving.delete(child);
    const current = this.slots.get(child.index) === child;
    if (current) this.slots.delete(child.index);
    const wasStarting = child.state === 'starting';
    const expected = child.state === 'leaving' || this.cold;
    child.state = 'leaving';
    child.exited.resolve();
    if (wasStarting) {
      const error =
        child.startError ?? new Error(`${child.name} exited with ${exit.description} while starting`);
      child.ready.reject(error);
      if (this.canSpawn() && this.state !== 'starting' && current) this.startFailed(child, error);
      return;
    }
    if (!expected) {
      this.lost++;
      const what = this.kind === 'prefork' ? `Process '${child.name}' pid:` : `Thread '${child.name}' id:`;
      this.options.logger.error(`${what}${child.handle.id} exited with '${exit.description}'`);
    }
    const task = child.task;
    // After a cold stop the worker has given the message back: no outcome, so nothing is recorded for it.
    if (task && !task.settled && !this.cold) {
      const error = new WorkerLostError(`Worker exited prematurely: ${exit.description} Job: ${task.id}.`);
      this.settle(task, { ok: false, error });
    }
    if (current && this.canSpawn() && child.index <= this.size) this.spawnInto(child.index);
    this.dispatch();
  }

  /** A replacement could not start: try again with backoff; after several failures in a row, give up loudly. */
  private startFailed(child: PoolChild, error: Error): void {
    this.startFailures++;
    this.options.logger.error(
      { err: error },
      `${child.name} could not start (${this.startFailures} in a row): ${error.message}`,
    );
    if (this.startFailures >= MAX_START_FAILURES) {
      this.options.onFatal?.(
        new ImproperlyConfigured(
          `The ${this.kind} pool could not start a child ${this.startFailures} times in a row: ${error.message}`,
        ),
      );
      return;
    }
    const timer = setTimeout(
      () => {
        this.respawns.delete(timer);
        if (this.canSpawn() && !this.slots.has(child.index) && child.index <= this.size) {
          this.spawnInto(child.index);
        }
      },
      100 * 2 ** this.startFailures,
    );
    this.respawns.add(timer);
  }

  private async serve(child: PoolChild, message: Extract<FromChild, { t: 'call' }>): Promise<void> {
    const { callId } = message;
    try {
      let value: unknown;
      if (message.target === 'job') {
        const task = child.task;
        if (message.method !== 'updateState' || !task || task.id !== message.jobId || task.settled) {
          throw new ImproperlyConfigured('updateState() can only be called while its task runs');
        }
        value = await task.job.updateState(message.args[0] as string, message.args[1]);
      } else {
        value = await serveCall(this.options, message.target, message.method, message.args);
      }
      child.outbox.push({ t: 'reply', callId, ok: true, value });
    } catch (error) {
      child.outbox.push({ t: 'reply', callId, ok: false, error: errorToData(error) });
    }
  }
}
