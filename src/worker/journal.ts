/**
 * The worker's durable record of the tasks it has started, so that work lost with a dead process is visible.
 *
 * Each worker appends to its own file, `<dir>/<scope hash>.<node>.<pid>.<random>.jsonl`: a `started` line before
 * a task runs, a `done` line once its outcome is settled. Lines are written together, in one system call per turn
 * of the event loop, and always BEFORE the acknowledgements of that turn are sent (`flush()` is the settlement's
 * `beforeAck`); the line of a task acknowledged late is written at once, before it runs, since nothing else
 * precedes a crash it may cause. A clean stop deletes the file. A worker finding the file of a process that no
 * longer exists (at start, then every `RECOVER_EVERY_MS`) claims it (rename, so one worker does) and, for every
 * task started and never done:
 * - acknowledged early: its message is gone, so it is stored FAILURE `WorkerLostError` (unless a result is already
 *   stored), rather than left PENDING or STARTED forever;
 * - acknowledged late: the broker delivers it again; the death is counted in `<dir>/deaths/<task id>`, and a
 *   redelivered task that has killed its process more than `maxWorkerLostRequeues` times is stored FAILURE and
 *   dead-lettered instead of run again (a poison message cannot crash-loop the worker, on any pool).
 *
 * The record survives kill -9 and crashes of Node (the lines are in the kernel's page cache once written); not a
 * power failure (no fsync). Workers share what they learn through the directory: only workers on the same host
 * (or sharing the directory) recover each other's files.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultBackend, StoreContext } from '../backends/backend.js';
import { buildMeta } from '../backends/meta.js';
import { WorkerLostError } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import type { Service } from '../lifecycle/service.js';
import { READY_STATES, States } from '../types.js';

/** How often a running worker looks for the files of dead workers. */
export const RECOVER_EVERY_MS = 30_000;
/** Past this size the file is rewritten with only the tasks still running. */
const COMPACT_AT_BYTES = 4 * 1024 * 1024;
/** Death counts older than this are forgotten (their task was acknowledged by some other path long ago). */
const DEATHS_KEPT_MS = 24 * 3600 * 1000;

export function defaultJournalDir(): string {
  return join(tmpdir(), 'celeriac-journal');
}

/** What the journal keeps of a started task. */
export interface JournalEntry {
  readonly id: string;
  readonly name: string;
  /** Acknowledged late (the broker delivers it again) rather than early (its message is gone). */
  readonly late: boolean;
  readonly replyTo: string | null;
  readonly correlationId: string | null;
}

export interface JournalOptions {
  readonly dir: string;
  /**
   * What the workers sharing a journal must share (the broker and backend URLs): a worker only recovers the files
   * of dead workers that used the same, so that it stores their losses where their callers look.
   */
  readonly scope: string;
  readonly hostname: string;
  readonly backend: ResultBackend;
  /** Whether results are stored at all (a backend is configured). */
  readonly storesResults: boolean;
  readonly logger: Logger;
}

interface Line {
  s?: JournalEntry;
  d?: string;
}

/** Whether a process with this pid exists (EPERM: it exists but is not ours). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A node name made safe for a file name. */
function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9@._-]/g, '_');
}

export class Journal implements Service {
  readonly name = 'journal';
  /** The open file, or undefined when the journal could not be written (or is closed). */
  private fd: number | undefined;
  private readonly file: string;
  private readonly prefix: string;
  private readonly deathsDir: string;
  /** Lines not written yet (one write per turn of the event loop, or before an acknowledgement). */
  private pending = '';
  private flushScheduled = false;
  private readonly running = new Map<string, JournalEntry>();
  private bytes = 0;
  private opened = false;
  private timer: NodeJS.Timeout | undefined;
  private recovering: Promise<void> | undefined;

  constructor(private readonly options: JournalOptions) {
    this.prefix = createHash('sha1').update(options.scope).digest('hex').slice(0, 12);
    const unique = randomBytes(4).toString('hex');
    this.file = join(
      options.dir,
      `${this.prefix}.${fileSafe(options.hostname)}.${process.pid}.${unique}.jsonl`,
    );
    this.deathsDir = join(options.dir, 'deaths');
  }

  /** Opens this process's file and recovers the files of dead workers. */
  async start(): Promise<void> {
    try {
      mkdirSync(this.deathsDir, { recursive: true });
      this.fd = openSync(this.file, 'a');
      this.opened = true;
    } catch (error) {
      this.options.logger.warn(
        `Cannot write the worker journal in ${this.options.dir} (${(error as Error).message}): tasks lost with ` +
          'this process will not be marked FAILURE; set workerJournalDir to a writable directory',
      );
      return;
    }
    await this.recover();
    this.timer = setInterval(() => void this.recover(), RECOVER_EVERY_MS).unref();
  }

  /** Writes what is pending (tasks still run during a warm drain). */
  async drain(): Promise<void> {
    this.flush();
  }

  /** Clean stop: nothing of this process is left to recover. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.recovering;
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    // A journal that could not be opened has no file (its directory may not even be one).
    if (this.opened) rmSync(this.file, { force: true });
  }

  /**
   * Records that a task starts: on disk before its early acknowledgement is sent (`flush()`), or before this
   * returns for a task acknowledged late. A journal that cannot be written is logged once and skipped.
   */
  started(entry: JournalEntry): void {
    this.running.set(entry.id, entry);
    this.queue(`${JSON.stringify({ s: entry })}\n`);
    if (entry.late) this.flush();
  }

  /** Records that a task's outcome is settled (not awaited by anyone). */
  done(id: string): void {
    if (!this.running.delete(id)) return;
    this.queue(`{"d":${JSON.stringify(id)}}\n`);
  }

  /** Writes the lines queued so far, in one system call (synchronous: the caller's next step may depend on it). */
  flush(): void {
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.append(text);
  }

  private queue(line: string): void {
    if (this.fd === undefined) return;
    this.pending += line;
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Deaths counted for a task (by the recovery of dead workers' files). */
  deaths(id: string): number {
    try {
      return Number(readFileSync(join(this.deathsDir, fileSafe(id)), 'utf8')) || 0;
    } catch {
      return 0;
    }
  }

  /** Forgets the deaths of a task that reached its end. */
  forgetDeaths(id: string): void {
    rmSync(join(this.deathsDir, fileSafe(id)), { force: true });
  }

  private append(text: string): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, text);
      this.bytes += text.length;
      if (this.bytes > COMPACT_AT_BYTES) this.compact();
    } catch (error) {
      this.options.logger.error(
        `Cannot write the worker journal ${this.file} (${(error as Error).message}): it is turned off; tasks ` +
          'lost with this process will not be marked FAILURE',
      );
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
    }
  }

  /** Rewrites the file with only the tasks still running (synchronous, so nothing interleaves). */
  private compact(): void {
    const text = [...this.running.values()].map((s) => `${JSON.stringify({ s })}\n`).join('');
    const next = `${this.file}.compact`;
    writeFileSync(next, text);
    renameSync(next, this.file);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = openSync(this.file, 'a');
    this.bytes = text.length;
  }

  /** Recovers the files of dead workers (one recovery at a time). */
  recover(): Promise<void> {
    this.recovering ??= this.recoverOnce()
      .catch((error: unknown) => {
        this.options.logger.warn(`Could not recover dead workers' journals: ${(error as Error).message}`);
      })
      .finally(() => (this.recovering = undefined));
    return this.recovering;
  }

  private async recoverOnce(): Promise<void> {
    const { dir } = this.options;
    for (const name of readdirSync(dir)) {
      const match = /\.(\d+)\.[0-9a-f]+\.jsonl(?:\.claimed\.(\d+))?$/.exec(name);
      if (!match || !name.startsWith(`${this.prefix}.`)) continue;
      const owner = Number(match[1]);
      const claimer = match[2] === undefined ? null : Number(match[2]);
      if (owner === process.pid || alive(owner)) continue;
      if (claimer !== null && claimer !== process.pid && alive(claimer)) continue;
      const claimed = join(dir, `${name.replace(/\.claimed\.\d+$/, '')}.claimed.${process.pid}`);
      try {
        renameSync(join(dir, name), claimed);
      } catch {
        continue; // another worker claimed it first
      }
      await this.recoverFile(claimed, owner);
      rmSync(claimed, { force: true });
    }
    this.forgetOldDeaths();
  }

  private async recoverFile(path: string, pid: number): Promise<void> {
    const lost = new Map<string, JournalEntry>();
    for (const text of readFileSync(path, 'utf8').split('\n')) {
      if (!text) continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        continue; // the last line of a process killed while writing it
      }
      if (line.s) lost.set(line.s.id, line.s);
      else if (line.d) lost.delete(line.d);
    }
    if (lost.size === 0) return;
    const { logger } = this.options;
    let failed = 0;
    let counted = 0;
    for (const entry of lost.values()) {
      if (entry.late) {
        const deaths = this.deaths(entry.id) + 1;
        writeFileSync(join(this.deathsDir, fileSafe(entry.id)), String(deaths));
        counted++;
      } else if (await this.markLost(entry, pid)) {
        failed++;
      }
    }
    logger.warn(
      `Worker process ${pid} died with ${lost.size} task(s) started: ${failed} acknowledged early stored as ` +
        `FAILURE WorkerLostError, ${counted} acknowledged late counted as worker deaths (the broker delivers them again)`,
    );
  }

  /** Stores FAILURE WorkerLostError for a lost early-acknowledged task, unless a result is already stored. */
  private async markLost(entry: JournalEntry, pid: number): Promise<boolean> {
    const { backend, storesResults, logger, hostname } = this.options;
    if (!storesResults) return false;
    try {
      const stored = await backend.get(entry.id);
      if (stored && READY_STATES.has(stored.status)) return false;
      const error = new WorkerLostError(
        `Worker exited prematurely: process ${pid} died while running ${entry.name} (found by ${hostname})`,
      );
      (error as { pyArgs?: unknown[] }).pyArgs = [error.message];
      const context: StoreContext = { replyTo: entry.replyTo, correlationId: entry.correlationId };
      await backend.store(
        buildMeta({
          state: States.FAILURE,
          result: error,
          traceback: null,
          request: { taskId: entry.id, name: entry.name },
        }),
        context,
      );
      return true;
    } catch (error) {
      logger.warn(`Could not store the loss of ${entry.name}[${entry.id}]: ${(error as Error).message}`);
      return false;
    }
  }

  private forgetOldDeaths(): void {
    const before = Date.now() - DEATHS_KEPT_MS;
    for (const name of readdirSync(this.deathsDir)) {
      const path = join(this.deathsDir, name);
      try {
        if (statSync(path).mtimeMs < before) rmSync(path, { force: true });
      } catch {
        // gone meanwhile
      }
    }
  }
}
