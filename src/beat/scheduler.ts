/**
 * The scheduler: Celery's `Scheduler.tick` (`celery/beat.py`) over a clock that tests inject. Each tick sends the
 * entries that are due and says how long to sleep. An entry's run is recorded in the store *before* it is sent
 * (Celery's `reserve`), and with a shared store that record is fenced by the leader lease: a beat that is no
 * longer the leader cannot record, and so never sends, a tick the new leader will send.
 *
 * Catch-up after downtime (or after leadership moved): `once` (default, Celery's behaviour) sends one run and goes
 * on from now; `skip` sends nothing for a run later than `catchUpGrace`; `all` sends each missed run, oldest first,
 * up to `catchUpLimit`.
 */
import type { Clock } from '../lifecycle/clock.js';
import type { Logger } from '../lifecycle/logger.js';
import type { ScheduleEntry } from './entries.js';
import type { BeatStore, StoredEntry, StoredState } from './stores/store.js';

/** A fenced write was refused: this beat is not the leader any more. */
export class LeadershipLost extends Error {
  constructor(entry: string) {
    super(`beat: lost leadership before recording ${entry}; not sending it`);
  }
}

export interface SchedulerOptions {
  readonly entries: readonly ScheduleEntry[];
  /** Where the state lives (a file, or the shared store). */
  readonly store: BeatStore;
  /** The shared store holding the lease, when there is one: every run is recorded there first, fenced. */
  readonly fence?: BeatStore | undefined;
  readonly clock: Clock;
  /** Publishes the entry's task; resolves with the task id. */
  send(entry: ScheduleEntry): Promise<string>;
  readonly logger: Logger;
  /** Seconds: the longest sleep between two ticks (`beatMaxLoopInterval`). */
  readonly maxInterval: number;
  readonly timezone: string;
  readonly utcEnabled: boolean;
}

export class Scheduler {
  private readonly state = new Map<string, StoredEntry>();
  /** Entries that started from now at setup (nothing stored): a shared store's record of them wins in `adopt`. */
  private readonly fresh = new Set<string>();

  constructor(private readonly options: SchedulerOptions) {}

  get entries(): readonly ScheduleEntry[] {
    return this.options.entries;
  }

  /** The stored state of an entry (last run, run count). */
  entryState(name: string): StoredEntry | undefined {
    return this.state.get(name);
  }

  /**
   * Loads the store and lines it up with the entries: a changed time zone (or enableUtc) resets everything, a
   * changed entry resets that entry, and a new entry starts from now, as in Celery. Writes the result back unless
   * the store is fenced (a shared store is written only by the leader, in `adopt`).
   */
  async setup(): Promise<void> {
    const { store, fence } = this.options;
    this.reconcile(await store.load(), []);
    if (store !== fence) await store.save(this.snapshot());
  }

  /**
   * On becoming the leader: takes every run the shared store knows of that is later than ours (another beat sent
   * it), then writes the state back there, fenced.
   */
  async adopt(): Promise<boolean> {
    const { store, fence } = this.options;
    if (!fence) return true;
    const shared = await fence.load();
    this.reconcile(
      shared,
      [...this.state].filter(([name]) => !this.fresh.has(name)),
    );
    const snapshot = this.snapshot();
    if (!(await fence.save(snapshot))) return false;
    if (store !== fence) await store.save(snapshot);
    return true;
  }

  private reconcile(stored: StoredState, known: readonly (readonly [string, StoredEntry])[]): void {
    const { timezone, utcEnabled, logger, clock } = this.options;
    let entries = stored.entries;
    if (stored.timezone !== null && stored.timezone !== timezone) {
      logger.warn(`Reset: Timezone changed from '${stored.timezone}' to '${timezone}'`);
      entries = {};
    } else if (stored.utcEnabled !== null && stored.utcEnabled !== utcEnabled) {
      const word = (on: boolean): string => (on ? 'enabled' : 'disabled');
      logger.warn(`Reset: UTC changed from ${word(stored.utcEnabled)} to ${word(utcEnabled)}`);
      entries = {};
    }
    const mine = new Map(known);
    const now = clock.now();
    this.state.clear();
    this.fresh.clear();
    for (const entry of this.options.entries) {
      const candidates = [entries[entry.name], mine.get(entry.name)].filter(
        (e): e is StoredEntry => e !== undefined && e.definition === entry.definition,
      );
      const latest = candidates.sort((a, b) => b.lastRunAt - a.lastRunAt)[0];
      if (!latest && entries[entry.name]) logger.info(`Reset: beat entry ${entry.name} changed`);
      if (!latest) this.fresh.add(entry.name);
      this.state.set(
        entry.name,
        latest ?? { lastRunAt: now, totalRunCount: 0, definition: entry.definition },
      );
    }
  }

  private snapshot(): StoredState {
    return {
      timezone: this.options.timezone,
      utcEnabled: this.options.utcEnabled,
      entries: Object.fromEntries(this.state),
    };
  }

  private dueAt(entry: ScheduleEntry): number {
    const last = this.state.get(entry.name)!.lastRunAt;
    return entry.schedule.nextRunAfter(new Date(last)).getTime();
  }

  /**
   * One pass: sends every due entry (earliest first) and resolves with the milliseconds to sleep before the next
   * pass. Rejects with LeadershipLost when the shared store refused a record (nothing more is sent).
   */
  async tick(): Promise<number> {
    const { clock, maxInterval } = this.options;
    const now = clock.now();
    const due = this.options.entries
      .map((entry) => ({ entry, at: this.dueAt(entry) }))
      .filter(({ at }) => at <= now)
      .sort((a, b) => a.at - b.at);
    for (const { entry, at } of due) await this.runDue(entry, at, now);
    let sleep = maxInterval * 1000;
    const after = clock.now();
    for (const entry of this.options.entries) sleep = Math.min(sleep, Math.max(0, this.dueAt(entry) - after));
    return sleep;
  }

  private async runDue(entry: ScheduleEntry, due: number, now: number): Promise<void> {
    const next = entry.schedule.nextRunAfter(new Date(due)).getTime();
    if (entry.catchUp === 'skip' && now - due > entry.catchUpGrace * 1000) {
      this.options.logger.info(
        `Scheduler: Skipping missed run of ${entry.name} (due ${new Date(due).toISOString()}, catchUp skip)`,
      );
      await this.reserve(entry, now, 0);
      return;
    }
    if (entry.catchUp !== 'all') {
      // One run, even after a long downtime; the schedule then goes on from now (Celery's last_run_at = now).
      await this.reserve(entry, next <= now ? now : due, 1);
      await this.apply(entry);
      return;
    }
    let tick = due;
    let sent = 0;
    while (tick <= now && sent < entry.catchUpLimit) {
      await this.reserve(entry, tick, 1);
      await this.apply(entry);
      sent += 1;
      tick = entry.schedule.nextRunAfter(new Date(tick)).getTime();
    }
    if (tick <= now) {
      this.options.logger.warn(
        `Scheduler: sent ${sent} missed runs of ${entry.name} (catchUpLimit); the runs missed before ` +
          `${new Date(now).toISOString()} beyond those are dropped`,
      );
      await this.reserve(entry, now, 0);
    }
  }

  /** Records the run before sending it (Celery's `reserve`); with a fence, only while this beat leads. */
  private async reserve(entry: ScheduleEntry, lastRunAt: number, runs: number): Promise<void> {
    const { store, fence } = this.options;
    const previous = this.state.get(entry.name)!;
    const record: StoredEntry = {
      lastRunAt,
      totalRunCount: previous.totalRunCount + runs,
      definition: entry.definition,
    };
    if (fence && !(await fence.recordRun(entry.name, record))) throw new LeadershipLost(entry.name);
    if (store !== fence) await store.recordRun(entry.name, record);
    this.state.set(entry.name, record);
    this.fresh.delete(entry.name);
  }

  /** Celery's `apply_entry`: the same log lines; a failed send is logged and the schedule goes on. */
  private async apply(entry: ScheduleEntry): Promise<void> {
    const { logger } = this.options;
    logger.info(`Scheduler: Sending due task ${entry.name} (${entry.task})`);
    try {
      const id = await this.options.send(entry);
      logger.debug(`${entry.task} sent. id->${id}`);
    } catch (error) {
      logger.error(
        { err: error },
        `Message Error: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
