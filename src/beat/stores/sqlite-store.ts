/**
 * The shared store in SQLite: the broker's database file (or, under an AMQP broker, the result backend's). The
 * lease is a row with its holder and expiry, taken in an immediate transaction; every state write runs in a
 * transaction that first checks the row still names us (fencing). Beats sharing a SQLite file share a machine,
 * so their clocks agree, which the expiry times rely on.
 */
import { hostname } from 'node:os';
import type { Clock } from '../../lifecycle/clock.js';
import { openSqlite, type SqliteDatabase } from '../../transport/sqlite/file.js';
import { uuid } from '../../protocol/ids.js';
import { entryJson, parseEntry, type SharedStore, type StoredEntry, type StoredState } from './store.js';

const META = '__meta__';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS celeriac_beat_lease (
  schedule TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS celeriac_beat_state (
  schedule TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (schedule, name)
);
`;

export class SqliteStore implements SharedStore {
  readonly description: string;
  readonly holder = `${hostname()}:${process.pid}:${uuid().slice(0, 8)}`;
  private readonly db: SqliteDatabase;

  constructor(
    url: string,
    setting: string,
    private readonly schedule: string,
    private readonly leaseMs: number,
    private readonly clock: Clock,
  ) {
    this.db = openSqlite(url, setting);
    this.db.exec(SCHEMA);
    this.description = url;
  }

  private holds(now: number): boolean {
    const row = this.db
      .prepare('SELECT holder, expires_at FROM celeriac_beat_lease WHERE schedule = ?')
      .get(this.schedule) as { holder: string; expires_at: number } | undefined;
    return row !== undefined && row.holder === this.holder && row.expires_at > now;
  }

  acquire(): Promise<{ acquired: boolean; retryInMs: number }> {
    const take = this.db.transaction(() => {
      const now = this.clock.now();
      const row = this.db
        .prepare('SELECT holder, expires_at FROM celeriac_beat_lease WHERE schedule = ?')
        .get(this.schedule) as { holder: string; expires_at: number } | undefined;
      if (row && row.holder !== this.holder && row.expires_at > now)
        return { acquired: false, retryInMs: row.expires_at - now };
      this.db
        .prepare(
          `INSERT INTO celeriac_beat_lease (schedule, holder, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (schedule) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
        )
        .run(this.schedule, this.holder, now + this.leaseMs);
      return { acquired: true, retryInMs: this.leaseMs };
    });
    return Promise.resolve(take.immediate());
  }

  release(): Promise<void> {
    this.db
      .prepare('DELETE FROM celeriac_beat_lease WHERE schedule = ? AND holder = ?')
      .run(this.schedule, this.holder);
    return Promise.resolve();
  }

  load(): Promise<StoredState> {
    const rows = this.db
      .prepare('SELECT name, value FROM celeriac_beat_state WHERE schedule = ?')
      .all(this.schedule) as { name: string; value: string }[];
    const entries: Record<string, StoredEntry> = {};
    let meta: Record<string, unknown> = {};
    for (const { name, value } of rows) {
      try {
        const parsed: unknown = JSON.parse(value);
        if (name === META) meta = parsed as Record<string, unknown>;
        else {
          const entry = parseEntry(parsed);
          if (entry) entries[name] = entry;
        }
      } catch {
        // A damaged row: the entry starts afresh, as with a damaged file.
      }
    }
    return Promise.resolve({
      timezone: typeof meta.timezone === 'string' ? meta.timezone : null,
      utcEnabled: typeof meta.utcEnabled === 'boolean' ? meta.utcEnabled : null,
      entries,
    });
  }

  private write(replace: boolean, rows: readonly (readonly [string, string])[]): Promise<boolean> {
    const run = this.db.transaction(() => {
      if (!this.holds(this.clock.now())) return false;
      if (replace) this.db.prepare('DELETE FROM celeriac_beat_state WHERE schedule = ?').run(this.schedule);
      const upsert = this.db.prepare(
        `INSERT INTO celeriac_beat_state (schedule, name, value) VALUES (?, ?, ?)
         ON CONFLICT (schedule, name) DO UPDATE SET value = excluded.value`,
      );
      for (const [name, value] of rows) upsert.run(this.schedule, name, value);
      return true;
    });
    return Promise.resolve(run.immediate());
  }

  save(state: StoredState): Promise<boolean> {
    const rows: [string, string][] = [
      [META, JSON.stringify({ timezone: state.timezone, utcEnabled: state.utcEnabled })],
    ];
    for (const [name, entry] of Object.entries(state.entries))
      rows.push([name, JSON.stringify(entryJson(entry))]);
    return this.write(true, rows);
  }

  recordRun(name: string, entry: StoredEntry): Promise<boolean> {
    return this.write(false, [[name, JSON.stringify(entryJson(entry))]]);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
