/**
 * Beat as a service (`celeriac beat`, or embedded in a worker with `-B`): loads and checks the schedule, keeps the
 * leader lease when the app has a shared store, and runs the scheduler's ticks while it leads. Standing by, it
 * tries to take the lease the moment the leader's expires, so a crashed leader is replaced within one lease
 * period (`beatLeaseTimeout`). A leader renews its lease every third of that period.
 */
import type { Celery } from '../app/celery.js';
import { registerBuiltinTasks } from '../canvas/builtins.js';
import { ImproperlyConfigured } from '../errors.js';
import { sleepUnlessAborted } from '../lifecycle/async.js';
import { systemClock, type Clock } from '../lifecycle/clock.js';
import type { Logger } from '../lifecycle/logger.js';
import type { Service } from '../lifecycle/service.js';
import { maskUrl } from '../lifecycle/url.js';
import { defaultEntries, loadEntries, type ScheduleEntry } from './entries.js';
import { LeadershipLost, Scheduler } from './scheduler.js';
import { FileStore } from './stores/file-store.js';
import { sharedStoreFor } from './stores/shared.js';
import type { BeatStore, SharedStore } from './stores/store.js';

export interface BeatOptions {
  logger?: Logger;
  /** The state file (`-s`); giving one chooses the file store. Default `beatScheduleFilename`. */
  scheduleFilename?: string;
  /** Where the state lives; default `beatStore` (`file`), or `file` when a schedule file is given. */
  store?: 'file' | 'shared';
  /** Most seconds between two looks at the schedule (`--max-interval`); default `beatMaxLoopInterval`. */
  maxInterval?: number;
  /** For tests: the clock the schedule is evaluated with. */
  clock?: Clock;
}

export class Beat implements Service {
  readonly name = 'beat';
  private scheduleEntries: readonly ScheduleEntry[];
  readonly maxInterval: number;
  readonly storeKind: 'file' | 'shared';
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly filename: string;
  private scheduler: Scheduler | undefined;
  private store: BeatStore | undefined;
  private shared: SharedStore | null = null;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private leading = false;

  /** Loads and checks the schedule: every problem is reported here, at once, before anything is sent. */
  constructor(
    readonly app: Celery,
    options: BeatOptions = {},
  ) {
    const conf = app.conf;
    this.logger = options.logger ?? app.logger;
    this.clock = options.clock ?? systemClock;
    this.filename = options.scheduleFilename ?? conf.beatScheduleFilename;
    this.storeKind = options.store ?? (options.scheduleFilename ? 'file' : conf.beatStore);
    this.maxInterval = options.maxInterval ?? (conf.beatMaxLoopInterval || 300);
    if (!(this.maxInterval > 0))
      throw new ImproperlyConfigured(
        `--max-interval must be a positive number of seconds, got ${this.maxInterval}`,
      );
    // Whether the backend expires results itself is known once it exists (start()); the schedule is checked now.
    this.scheduleEntries = loadEntries(app, defaultEntries(app, true));
  }

  /** Every entry beat runs (with `celery.backend_cleanup` once start() found a backend that needs it). */
  get entries(): readonly ScheduleEntry[] {
    return this.scheduleEntries;
  }

  /**
   * Celery's `install_default_entries`: a backend that keeps results until they are cleaned up
   * (`capabilities.autoExpire` false, Celery's `supports_autoexpire`: the database backend) gets the daily
   * `celery.backend_cleanup` entry. The built-in task is registered here too, as every Celery app has it.
   */
  private async addCleanupEntry(): Promise<void> {
    if (!this.app.conf.backend || this.app.conf.resultExpires === null) return;
    const backend = await this.app.getBackend();
    if (backend.capabilities.autoExpire) return;
    registerBuiltinTasks(this.app);
    this.scheduleEntries = loadEntries(this.app, defaultEntries(this.app, false));
  }

  /** True while this beat is the one sending (always, without a shared store). */
  get isLeader(): boolean {
    return this.leading;
  }

  /** The scheduler (after start), for inspection. */
  get schedulerState(): Scheduler | undefined {
    return this.scheduler;
  }

  async start(): Promise<void> {
    if (this.loop) return;
    const conf = this.app.conf;
    this.shared = sharedStoreFor(this.app, this.logger);
    if (this.storeKind === 'shared' && !this.shared) {
      throw new ImproperlyConfigured(
        `beatStore "shared" needs a Redis or SQLite broker or result backend; this app has broker ` +
          `${maskUrl(conf.broker)} and backend ${conf.backend ? maskUrl(conf.backend) : 'none'}: use beatStore "file"`,
      );
    }
    await this.addCleanupEntry();
    this.store = this.storeKind === 'shared' ? this.shared! : new FileStore(this.filename, this.logger);
    if (!this.shared) {
      this.logger.warn(
        'beat: no leader election (neither the broker nor the result backend is Redis or SQLite): run one beat only',
      );
    }
    this.scheduler = new Scheduler({
      entries: this.scheduleEntries,
      store: this.store,
      fence: this.shared ?? undefined,
      clock: this.clock,
      send: (entry) => this.send(entry),
      logger: this.logger,
      maxInterval: this.maxInterval,
      timezone: this.app.timezone,
      utcEnabled: conf.enableUtc,
    });
    try {
      await this.scheduler.setup();
    } catch (error) {
      await this.closeStores();
      throw error;
    }
    this.logger.info('beat: Starting...');
    this.leading = !this.shared;
    this.loop = this.run();
  }

  private async send(entry: ScheduleEntry): Promise<string> {
    const task = this.app.tasks.get(entry.task);
    const result = task
      ? await task.applyAsync([...entry.args], entry.kwargs, entry.options)
      : await this.app.sendTask(entry.task, entry.args, entry.kwargs, entry.options);
    return result.id;
  }

  /** Takes or renews the lease; resolves with how long to wait before trying again when not leading. */
  private async lead(shared: SharedStore): Promise<number | null> {
    const leaseMs = this.app.conf.beatLeaseTimeout * 1000;
    const { acquired, retryInMs } = await shared.acquire();
    if (acquired && !this.leading) {
      this.leading = await this.scheduler!.adopt();
      if (this.leading) this.logger.info(`beat: leading (${shared.holder}, lease ${leaseMs / 1000}s)`);
    } else if (!acquired && this.leading) {
      this.leading = false;
      this.logger.warn('beat: another beat holds the lease now; standing by');
    }
    return this.leading ? null : Math.min(retryInMs, leaseMs) + 10;
  }

  private async run(): Promise<void> {
    const { signal } = this.abort;
    const renewMs = (this.app.conf.beatLeaseTimeout * 1000) / 3;
    let standingByLogged = false;
    while (!signal.aborted) {
      let wait: number;
      try {
        const standBy = this.shared ? await this.lead(this.shared) : null;
        if (standBy !== null) {
          if (!standingByLogged) this.logger.info('beat: another beat leads; standing by');
          standingByLogged = true;
          await sleepUnlessAborted(standBy, signal);
          continue;
        }
        standingByLogged = false;
        const next = await this.scheduler!.tick();
        wait = this.shared ? Math.min(next, renewMs) : next;
      } catch (error) {
        if (error instanceof LeadershipLost) {
          this.leading = false;
          this.logger.warn(error.message);
          continue;
        }
        this.logger.error({ err: error }, `beat: ${(error as Error).message}; trying again in 1s`);
        wait = 1000;
      }
      if (wait > 0) this.logger.debug(`beat: Waking up in ${(wait / 1000).toFixed(2)} seconds.`);
      await sleepUnlessAborted(wait, signal);
    }
  }

  private async closeStores(): Promise<void> {
    const stores = new Set([this.store, this.shared]);
    for (const store of stores) await store?.close().catch(() => undefined);
  }

  /** A warm stop is a stop: nothing beat holds needs finishing (a run is recorded before it is sent). */
  drain(): Promise<void> {
    return this.stop();
  }

  /** Stops ticking, gives the lease up (so a standby takes over at once) and closes the stores. Idempotent. */
  async stop(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    if (!this.loop) return;
    this.logger.info('beat: Shutting down...');
    await this.loop;
    if (this.leading && this.shared) await this.shared.release().catch(() => undefined);
    this.leading = false;
    await this.closeStores();
  }
}
