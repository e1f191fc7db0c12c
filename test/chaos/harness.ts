/**
 * The chaos harness (docs/reliability.md, the battery in the reliability brief §6): private brokers started here
 * (never the shared ones), worker processes run from source in their own process groups, a recorder outside the
 * broker (a file of `start i pid` / `done i pid` lines), and the battery's measurement model: per harness id `i`,
 * how many times it started and finished, and for the ones that never finished, what the result backend says.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { States } from '../../src/types.js';
import { startCli, type RunningProcess } from '../support/processes.js';
import { PrivateRedis, testClient } from '../support/redis.js';

export const CHAOS_APP = 'test/chaos/fixtures/chaos-app.ts';

/** Waits for `check` to hold, polling, up to `timeoutMs`; returns whether it held. Never used to sleep. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export interface Counts {
  readonly sent: number;
  /** Finished exactly once. */
  readonly once: number;
  /** Finished more than once. */
  readonly duplicated: number;
  /** Started more than once. */
  readonly reexecuted: number;
  /** Never finished, and no terminal FAILURE/REVOKED stored: lost. */
  readonly lost: number;
  /** Lost and still PENDING: nobody can tell. */
  readonly silent: number;
  /** Never finished, stored FAILURE (WorkerLostError and the like): the loss is visible. */
  readonly failed: number;
}

/** One worker process (in its own process group) and how to break it. */
export class WorkerProcess {
  constructor(readonly proc: RunningProcess) {}

  get pid(): number {
    return this.proc.pid;
  }

  ready(timeoutMs = 60_000): Promise<string> {
    return this.proc.waitFor(/ready\./, timeoutMs);
  }

  /** kill -9 of the whole process group (worker and its pool children). */
  async killGroup(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | string> {
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      this.proc.kill(signal);
    }
    return this.proc.exited();
  }
}

export interface ChaosRunOptions {
  /** Broker URL (a private instance). */
  readonly broker: string;
  /** Result backend URL (default: the broker). */
  readonly backend?: string;
  /** Extra environment for the workers. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A run: its own queue, record file and journal directory, and the workers it started. */
export class ChaosRun {
  readonly queue = `chaos-${uuid().slice(0, 8)}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'celeriac-chaos-'));
  readonly record = join(this.dir, 'record');
  readonly journal = join(this.dir, 'journal');
  readonly workers: WorkerProcess[] = [];
  /** Harness id -> task id of everything sent. */
  readonly ids = new Map<number, string>();
  private client: Celery | undefined;

  constructor(readonly options: ChaosRunOptions) {}

  get backend(): string {
    return this.options.backend ?? this.options.broker;
  }

  app(): Celery {
    if (!this.client) {
      this.client = new Celery('chaos-client', { broker: this.options.broker, backend: this.backend });
      this.client.logger = silentLogger();
    }
    return this.client;
  }

  /** Starts a worker process on this run's queue (`-P pool -c n` and any extra arguments). */
  startWorker(args: readonly string[], env: NodeJS.ProcessEnv = {}): WorkerProcess {
    const proc = startCli(['-A', CHAOS_APP, 'worker', '-Q', this.queue, '-l', 'info', ...args], {
      env: {
        CELERIAC_BROKER_URL: this.options.broker,
        CELERIAC_RESULT_BACKEND: this.backend,
        RECORD_FILE: this.record,
        CHAOS_JOURNAL_DIR: this.journal,
        ...this.options.env,
        ...env,
      },
      detached: true,
    });
    const worker = new WorkerProcess(proc);
    this.workers.push(worker);
    return worker;
  }

  /** Sends `record(i, ms)` for i in [from, from + n), acks late or early; resolves when all are published. */
  async send(
    n: number,
    options: { late?: boolean; ms?: (i: number) => number; from?: number } = {},
  ): Promise<void> {
    const name = options.late ? 'chaos.record_late' : 'chaos.record';
    const from = options.from ?? this.ids.size;
    const calls = [];
    for (let i = from; i < from + n; i++) {
      const id = uuid();
      this.ids.set(i, id);
      calls.push({ name, args: [i, options.ms?.(i) ?? 0], options: { queue: this.queue, taskId: id } });
    }
    await this.app().sendTasks(calls);
  }

  lines(): string[] {
    return existsSync(this.record) ? readFileSync(this.record, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** Per harness id: starts and dones. */
  tally(): { starts: Map<number, number>; dones: Map<number, number> } {
    const starts = new Map<number, number>();
    const dones = new Map<number, number>();
    for (const line of this.lines()) {
      const [what, i] = line.split(' ');
      const map = what === 'start' ? starts : what === 'done' ? dones : undefined;
      if (map) map.set(Number(i), (map.get(Number(i)) ?? 0) + 1);
    }
    return { starts, dones };
  }

  /** The first `done` recorded at or after `since` (ms since the epoch), or null. */
  firstDoneAfter(since: number): number | null {
    let first: number | null = null;
    for (const line of this.lines()) {
      const [what, , , ts] = line.split(' ');
      const at = Number(ts);
      if (what === 'done' && at >= since && (first === null || at < first)) first = at;
    }
    return first;
  }

  /** How many distinct sent tasks have finished at least once. */
  finished(): number {
    const { dones } = this.tally();
    let n = 0;
    for (const i of this.ids.keys()) if ((dones.get(i) ?? 0) > 0) n++;
    return n;
  }

  /** Started and not finished now (the battery's F, "in flight at the fault"). */
  inFlight(): number {
    const { starts, dones } = this.tally();
    let n = 0;
    for (const [i, s] of starts) if (s > (dones.get(i) ?? 0)) n++;
    return n;
  }

  /**
   * On a Redis broker, the harness ids of the deliveries the broker still holds unacknowledged (kombu's `unacked`
   * hash): after a kill -9, exactly what may run again. With acksLate that is every task started and not yet
   * acknowledged, which includes a task that recorded `done` a moment before the kill but whose ack had not reached
   * Redis yet (so "in flight" for a late-ack duplicate bound is this set, not only started-and-not-done).
   */
  async heldUnacked(): Promise<Set<number>> {
    const redis = testClient(this.options.broker);
    try {
      const byId = new Map([...this.ids].map(([i, id]) => [id, i]));
      const held = new Set<number>();
      for (const value of await redis.hvals('unacked')) {
        const [envelope] = JSON.parse(value) as [{ headers?: { id?: string } } | string];
        const parsed =
          typeof envelope === 'string' ? (JSON.parse(envelope) as { headers?: { id?: string } }) : envelope;
        const i = byId.get(parsed.headers?.id ?? '');
        if (i !== undefined) held.add(i);
      }
      return held;
    } finally {
      redis.disconnect();
    }
  }

  /** Harness ids that finished more than once. */
  duplicatedIds(): number[] {
    const { dones } = this.tally();
    return [...dones].filter(([, d]) => d > 1).map(([i]) => i);
  }

  /** Tasks that reached an end: finished, or stored FAILURE. */
  async settled(): Promise<number> {
    return this.ids.size - (await this.counts()).lost;
  }

  /** The battery's counts (§6.1), reading the backend for the ones that never finished. */
  async counts(): Promise<Counts & { failures: Map<string, number> }> {
    const { starts, dones } = this.tally();
    let once = 0;
    let duplicated = 0;
    let reexecuted = 0;
    let lost = 0;
    let silent = 0;
    let failed = 0;
    const failures = new Map<string, number>();
    const backend = await this.app().getBackend();
    for (const [i, id] of this.ids) {
      const d = dones.get(i) ?? 0;
      if ((starts.get(i) ?? 0) > 1) reexecuted++;
      if (d === 1) once++;
      if (d > 1) duplicated++;
      if (d > 0) continue;
      const meta = await backend.get(id);
      if (meta && (meta.status === States.FAILURE || meta.status === States.REVOKED)) {
        failed++;
        const type = (meta.result as { exc_type?: string } | null)?.exc_type ?? meta.status;
        failures.set(type, (failures.get(type) ?? 0) + 1);
        continue;
      }
      lost++;
      if (!meta || meta.status === States.PENDING) silent++;
    }
    return { sent: this.ids.size, once, duplicated, reexecuted, lost, silent, failed, failures };
  }

  /** Kills every worker this run started and removes its files. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.killGroup('SIGKILL')));
    await this.client?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A private redis-server for one scenario (AOF, fsync always), stopped by `stop()`. */
export async function privateRedis(): Promise<PrivateRedis> {
  return PrivateRedis.start();
}
