/**
 * Where beat keeps what it has sent: per entry, the last run and the number of runs (Celery's `last_run_at` and
 * `total_run_count`), with the definition they belong to, and the time zone they were computed in (a change of
 * either resets them, as Celery's PersistentScheduler does).
 *
 * Two kinds: a JSON file (one beat, Celery's model), and a shared store in the broker's Redis or SQLite that also
 * holds the leader lease. A shared store's writes are fenced: they succeed only while the writer holds the lease,
 * so a beat that lost its leadership (paused, partitioned) cannot record, and so cannot send, a tick.
 */

export interface StoredEntry {
  /** Milliseconds since the epoch. */
  readonly lastRunAt: number;
  readonly totalRunCount: number;
  readonly definition: string;
}

export interface StoredState {
  /** The app's time zone and enableUtc when the state was written; null when nothing was stored yet. */
  readonly timezone: string | null;
  readonly utcEnabled: boolean | null;
  readonly entries: Readonly<Record<string, StoredEntry>>;
}

export const EMPTY_STATE: StoredState = { timezone: null, utcEnabled: null, entries: {} };

export interface BeatStore {
  /** For logs: `file celerybeat-schedule.json`, `redis://host:6379/0`. */
  readonly description: string;
  load(): Promise<StoredState>;
  /** Replaces the whole state. False when fenced out (the lease is no longer ours). */
  save(state: StoredState): Promise<boolean>;
  /** Records one entry's run before it is sent. False when fenced out: the tick must not be sent. */
  recordRun(name: string, entry: StoredEntry): Promise<boolean>;
  close(): Promise<void>;
}

/** Leadership among several beats: a lease that expires unless renewed. */
export interface LeaderLease {
  /** This beat's token: `host:pid:random`. */
  readonly holder: string;
  /** Takes the lease if it is free or already ours (renewing it); else says when it expires. */
  acquire(): Promise<{ readonly acquired: boolean; readonly retryInMs: number }>;
  /** Gives the lease up at once (a clean stop), if it is still ours. */
  release(): Promise<void>;
}

/** A shared store holds the lease too. */
export interface SharedStore extends BeatStore, LeaderLease {}

/** Parses a stored state, leaving out what does not have the right shape (a damaged entry starts afresh). */
export function parseState(raw: unknown): StoredState {
  if (typeof raw !== 'object' || raw === null) return EMPTY_STATE;
  const r = raw as Record<string, unknown>;
  const entries: Record<string, StoredEntry> = {};
  if (typeof r.entries === 'object' && r.entries !== null) {
    for (const [name, value] of Object.entries(r.entries as Record<string, unknown>)) {
      const e = parseEntry(value);
      if (e) entries[name] = e;
    }
  }
  return {
    timezone: typeof r.timezone === 'string' ? r.timezone : null,
    utcEnabled: typeof r.utcEnabled === 'boolean' ? r.utcEnabled : null,
    entries,
  };
}

export function parseEntry(value: unknown): StoredEntry | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const lastRunAt = typeof v.lastRunAt === 'string' ? Date.parse(v.lastRunAt) : NaN;
  if (!Number.isFinite(lastRunAt) || typeof v.totalRunCount !== 'number' || typeof v.definition !== 'string')
    return null;
  return { lastRunAt, totalRunCount: v.totalRunCount, definition: v.definition };
}

/** The JSON form of an entry: the time as ISO-8601, readable by people and by Python alike. */
export function entryJson(entry: StoredEntry): Record<string, unknown> {
  return {
    lastRunAt: new Date(entry.lastRunAt).toISOString(),
    totalRunCount: entry.totalRunCount,
    definition: entry.definition,
  };
}
