/**
 * One thread or process of a `threads` or `prefork` pool, as the worker sees it: its transport (how to send to it,
 * how to kill it), its state, the job it runs, and its log under Celery's process name (`ForkPoolWorker-3`).
 */
import { deferred, type Deferred } from '../../lifecycle/async.js';
import type { Logger } from '../../lifecycle/logger.js';
import { Outbox, type ChildInit, type FromChild, type ToChild } from './ipc.js';
import type { PoolJob, PoolOutcome } from './pool.js';

/** How a child ended, in billiard's words: `signal 9 (SIGKILL)`, `exitcode 1`. */
export interface ChildExit {
  readonly description: string;
}

/** What the supervisor hears from a transport. */
export interface ChildEvents {
  onMessages(batch: FromChild[]): void;
  onExit(exit: ChildExit): void;
  /** A line the child wrote to its stdout or stderr. */
  onOutput(line: string): void;
}

/** A started thread or process. */
export interface ChildHandle {
  /** The pid of the process that runs it (for a thread, the worker's own). */
  readonly pid: number;
  /** The pid (prefork) or thread id (threads). */
  readonly id: number;
  /** Throws when the batch cannot be cloned; does nothing once the child is gone. */
  send(batch: ToChild[]): void;
  /** Ends it now: SIGKILL, or `worker.terminate()`. */
  kill(): void;
}

export type SpawnChild = (init: ChildInit, events: ChildEvents) => ChildHandle;

/** A job handed to the pool, from `run()` until its outcome is known. */
export interface PoolTask {
  readonly id: number;
  readonly job: PoolJob;
  readonly label: string;
  settled: boolean;
  child: PoolChild | undefined;
  readonly timers: NodeJS.Timeout[];
  readonly finished: Deferred<void>;
  resolve(outcome: PoolOutcome): void;
}

export type ChildState = 'starting' | 'idle' | 'busy' | 'leaving';

export class PoolChild {
  state: ChildState = 'starting';
  /** Tasks finished by this child (for maxTasksPerChild). */
  tasks = 0;
  task: PoolTask | undefined;
  /** Shrinking: leave once the current task is done. */
  leaveAfterTask = false;
  /** Set when the child reported that it could not start. */
  startError: Error | undefined;
  handle!: ChildHandle;
  readonly ready: Deferred<void> = deferred();
  readonly exited: Deferred<void> = deferred();
  readonly outbox: Outbox<ToChild>;
  killTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly log: Logger,
  ) {
    // Nothing may be unhandled: start() awaits `ready` only for the first children.
    this.ready.promise.catch(() => undefined);
    this.outbox = new Outbox<ToChild>(
      (batch) => this.handle.send(batch),
      (message, error) => {
        log.error(`Could not send a ${message.t} message to ${name}: ${(error as Error).message}`);
        if (message.t === 'reply') {
          return {
            t: 'reply',
            callId: message.callId,
            ok: false,
            error: {
              name: 'EncodeError',
              message: String(error),
              stack: undefined,
              celeriac: true,
              props: {},
            },
          };
        }
        return undefined;
      },
    );
  }

  get pid(): number {
    return this.handle.pid;
  }

  /** Asks it to exit; kills it if it has not after `graceMs` (at once when `graceMs` is 0). */
  leave(graceMs: number): void {
    this.state = 'leaving';
    if (graceMs <= 0) {
      this.handle.kill();
      return;
    }
    this.outbox.push({ t: 'exit' });
    this.killTimer ??= setTimeout(() => this.handle.kill(), graceMs);
    this.killTimer.unref();
  }
}

/** Re-logs a pino JSON line written by a child through the worker's logger (text or JSON, the worker's level). */
export function relog(log: Logger, line: string): void {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.warn(line);
    return;
  }
  const { level, time: _time, msg, ...rest } = record;
  const label = log.levels.labels[Number(level)] ?? 'info';
  const method = (log as unknown as Record<string, (obj: object, msg: string) => void>)[label];
  method?.call(log, rest, typeof msg === 'string' ? msg : '');
}
