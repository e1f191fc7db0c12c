/**
 * `sqlite://PATH`: results in the embedded database (may be the broker's file). Writes made in one tick are
 * committed in one transaction; a stored SUCCESS is never overwritten (enforced in the UPSERT itself).
 */
import { EventEmitter } from 'node:events';
import { ConnectionError } from '../../errors.js';
import { Batcher } from '../../lifecycle/async.js';
import { openSqlite, sqlitePath, type SqliteDatabase } from '../../transport/sqlite/file.js';
import type { JsonValue, ResultMeta } from '../../types.js';
import type {
  BackendCapabilities,
  ChordCounter,
  ChordPart,
  ChordProgress,
  BackendContext,
  GroupMeta,
  ResultBackend,
  WaitOptions,
} from '../backend.js';
import { pollUntilReady } from '../wait.js';
import { encodeJson, decodeJson } from '../../protocol/serializers/json.js';

/** In-process writes wake in-process waiters at once; other processes' writes are found by polling. */
const notifiers = new Map<string, EventEmitter>();

function notifierFor(path: string): EventEmitter {
  let notifier = notifiers.get(path);
  if (!notifier) {
    notifier = new EventEmitter();
    notifier.setMaxListeners(0);
    notifiers.set(path, notifier);
  }
  return notifier;
}

function migrate(db: SqliteDatabase): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS celeriac_results (
      task_id TEXT PRIMARY KEY,
      status TEXT NOT NULL,
      meta TEXT NOT NULL,
      expires_at INTEGER
    );
    CREATE TABLE IF NOT EXISTS celeriac_groups (
      group_id TEXT PRIMARY KEY,
      meta TEXT NOT NULL,
      expires_at INTEGER
    );
    CREATE TABLE IF NOT EXISTS celeriac_chords (
      group_id TEXT PRIMARY KEY,
      size INTEGER,
      extra INTEGER NOT NULL DEFAULT 0,
      expires_at INTEGER
    );
    CREATE TABLE IF NOT EXISTS celeriac_chord_parts (
      group_id TEXT NOT NULL,
      task_id TEXT NOT NULL,
      state TEXT NOT NULL,
      result TEXT NOT NULL,
      group_index REAL,
      seq INTEGER NOT NULL,
      expires_at INTEGER,
      PRIMARY KEY (group_id, task_id)
    );
  `);
}

export class SqliteBackend implements ResultBackend, ChordCounter {
  readonly capabilities: BackendCapabilities = {
    persistent: true,
    shared: true,
    push: false,
    groups: true,
    chords: 'native',
    autoExpire: true,
  };
  /** Chord parts in tables, counted in one immediate transaction per part (so several processes count together). */
  readonly chordCounter: ChordCounter = this;
  private db: SqliteDatabase | undefined;
  private statements: ReturnType<SqliteBackend['prepare']> | undefined;
  private readonly notifier: EventEmitter;
  private readonly writes = new Batcher<ResultMeta>((metas) => this.write(metas));
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly url: string,
    private readonly context: BackendContext,
  ) {
    this.notifier = notifierFor(sqlitePath(url, 'backend'));
  }

  async connect(): Promise<void> {
    if (this.db) return;
    const db = openSqlite(this.url, 'backend');
    migrate(db);
    this.db = db;
    this.statements = this.prepare(db);
    this.sweep();
    this.sweepTimer = setInterval(() => this.sweep(), 3_600_000);
    this.sweepTimer.unref();
  }

  private prepare(db: SqliteDatabase) {
    return {
      upsert: db.prepare(
        `INSERT INTO celeriac_results (task_id, status, meta, expires_at) VALUES (?, ?, ?, ?)
           ON CONFLICT(task_id) DO UPDATE SET status = excluded.status, meta = excluded.meta,
             expires_at = excluded.expires_at
           WHERE celeriac_results.status != 'SUCCESS'
             OR (celeriac_results.expires_at IS NOT NULL AND celeriac_results.expires_at <= ?)`,
      ),
      get: db.prepare(
        'SELECT meta FROM celeriac_results WHERE task_id = ? AND (expires_at IS NULL OR expires_at > ?)',
      ),
      forget: db.prepare('DELETE FROM celeriac_results WHERE task_id = ?'),
      saveGroup: db.prepare(
        'INSERT OR REPLACE INTO celeriac_groups (group_id, meta, expires_at) VALUES (?, ?, ?)',
      ),
      getGroup: db.prepare(
        'SELECT meta FROM celeriac_groups WHERE group_id = ? AND (expires_at IS NULL OR expires_at > ?)',
      ),
      deleteGroup: db.prepare('DELETE FROM celeriac_groups WHERE group_id = ?'),
      sweepResults: db.prepare(
        'DELETE FROM celeriac_results WHERE expires_at IS NOT NULL AND expires_at <= ?',
      ),
      sweepGroups: db.prepare('DELETE FROM celeriac_groups WHERE expires_at IS NOT NULL AND expires_at <= ?'),
      chordSize: db.prepare(
        `INSERT INTO celeriac_chords (group_id, size, extra, expires_at) VALUES (?, ?, 0, ?)
           ON CONFLICT(group_id) DO UPDATE SET size = excluded.size, expires_at = excluded.expires_at`,
      ),
      chordExtra: db.prepare(
        `INSERT INTO celeriac_chords (group_id, size, extra, expires_at) VALUES (?, NULL, ?, ?)
           ON CONFLICT(group_id) DO UPDATE SET extra = extra + excluded.extra`,
      ),
      chordPart: db.prepare(
        `INSERT INTO celeriac_chord_parts (group_id, task_id, state, result, group_index, seq, expires_at)
           VALUES (?, ?, ?, ?, ?, (SELECT COUNT(*) FROM celeriac_chord_parts WHERE group_id = ?), ?)
           ON CONFLICT(group_id, task_id) DO UPDATE SET state = excluded.state, result = excluded.result`,
      ),
      chordCount: db.prepare('SELECT COUNT(*) AS ready FROM celeriac_chord_parts WHERE group_id = ?'),
      chordTouch: db.prepare('UPDATE celeriac_chords SET expires_at = ? WHERE group_id = ?'),
      chordUnsize: db.prepare('UPDATE celeriac_chords SET size = NULL WHERE group_id = ?'),
      chordInfo: db.prepare('SELECT size, extra FROM celeriac_chords WHERE group_id = ?'),
      chordParts: db.prepare(
        `SELECT task_id, state, result FROM celeriac_chord_parts WHERE group_id = ?
           ORDER BY CASE WHEN group_index IS NULL THEN 1 ELSE 0 END, group_index, seq`,
      ),
      chordDelete: db.prepare('DELETE FROM celeriac_chords WHERE group_id = ?'),
      chordDeleteParts: db.prepare('DELETE FROM celeriac_chord_parts WHERE group_id = ?'),
      // Parts live as long as their chord: its expiry is pushed back by every part (as Redis' EXPIRE on .j/.s/.t).
      sweepChords: db.prepare(
        `DELETE FROM celeriac_chord_parts WHERE expires_at IS NOT NULL AND expires_at <= ?
           AND group_id NOT IN (SELECT group_id FROM celeriac_chords WHERE expires_at IS NULL OR expires_at > ?)`,
      ),
      sweepChordSizes: db.prepare(
        'DELETE FROM celeriac_chords WHERE expires_at IS NOT NULL AND expires_at <= ?',
      ),
    };
  }

  private get stmts(): NonNullable<SqliteBackend['statements']> {
    if (!this.statements) throw new ConnectionError(`result backend ${this.url} is not connected`);
    return this.statements;
  }

  private expiresAt(): number | null {
    return this.context.resultExpires === null ? null : Date.now() + this.context.resultExpires * 1000;
  }

  store(meta: ResultMeta): Promise<void> {
    return this.writes.add(meta);
  }

  private async write(metas: ResultMeta[]): Promise<void> {
    const db = this.db;
    if (!db) throw new ConnectionError(`result backend ${this.url} is closed; cannot store results`);
    const stmts = this.stmts;
    const expiresAt = this.expiresAt();
    const now = Date.now();
    db.transaction(() => {
      // A stored SUCCESS is final, unless it has expired (and is only waiting for the sweep).
      for (const meta of metas) stmts.upsert.run(meta.task_id, meta.status, encodeJson(meta), expiresAt, now);
    })();
    for (const meta of metas) this.notifier.emit(meta.task_id);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const row = this.stmts.get.get(taskId, Date.now()) as { meta: string } | undefined;
    return row ? (decodeJson(row.meta) as ResultMeta) : null;
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    return pollUntilReady(taskId, () => this.get(taskId), options, this.notifier);
  }

  async forget(taskId: string): Promise<void> {
    await this.writes.flush();
    this.stmts.forget.run(taskId);
  }

  async saveGroup(groupId: string, meta: GroupMeta): Promise<void> {
    this.stmts.saveGroup.run(groupId, encodeJson(meta), this.expiresAt());
  }

  async getGroup(groupId: string): Promise<GroupMeta | null> {
    const row = this.stmts.getGroup.get(groupId, Date.now()) as { meta: string } | undefined;
    return row ? (decodeJson(row.meta) as GroupMeta) : null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.stmts.deleteGroup.run(groupId);
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    this.stmts.chordSize.run(groupId, size, this.expiresAt());
  }

  async addChordPart(groupId: string, part: ChordPart): Promise<ChordProgress> {
    const db = this.db;
    if (!db) throw new ConnectionError(`result backend ${this.url} is closed; cannot count chord parts`);
    const stmts = this.stmts;
    const record = db.transaction(() => {
      stmts.chordPart.run(
        groupId,
        part.taskId,
        part.state,
        encodeJson(part.result),
        part.groupIndex,
        groupId,
        this.expiresAt(),
      );
      stmts.chordTouch.run(this.expiresAt(), groupId);
      const { ready } = stmts.chordCount.get(groupId) as { ready: number };
      const info = stmts.chordInfo.get(groupId) as { size: number | null; extra: number } | undefined;
      return { ready, size: info?.size ?? null, extra: info?.extra ?? 0 };
    });
    // IMMEDIATE: the write lock is taken before the count is read, so two processes never see the same count.
    return record.immediate();
  }

  async chordParts(groupId: string): Promise<[number, string, string, JsonValue][]> {
    const rows = this.stmts.chordParts.all(groupId) as { task_id: string; state: string; result: string }[];
    return rows.map((r) => [1, r.task_id, r.state, decodeJson(r.result) as JsonValue]);
  }

  async addToChord(groupId: string, count = 1): Promise<void> {
    this.stmts.chordExtra.run(groupId, count, this.expiresAt());
  }

  async claimChord(groupId: string, when: 'complete' | 'incomplete'): Promise<boolean> {
    const db = this.db;
    if (!db) throw new ConnectionError(`result backend ${this.url} is closed; cannot claim chord ${groupId}`);
    const stmts = this.stmts;
    const claim = db.transaction(() => {
      const info = stmts.chordInfo.get(groupId) as { size: number | null; extra: number } | undefined;
      if (!info || info.size === null) return false;
      const { ready } = stmts.chordCount.get(groupId) as { ready: number };
      if (ready >= info.size + info.extra !== (when === 'complete')) return false;
      stmts.chordUnsize.run(groupId);
      return true;
    });
    // IMMEDIATE, as addChordPart: the count and the claim are one step for every process on this file.
    return claim.immediate();
  }

  async deleteChord(groupId: string): Promise<void> {
    const db = this.db;
    if (!db) return;
    const stmts = this.stmts;
    db.transaction(() => {
      stmts.chordDelete.run(groupId);
      stmts.chordDeleteParts.run(groupId);
    })();
  }

  /** Deletes expired results (`result_expires`), as Celery's `celery.backend_cleanup` does for database backends. */
  private sweep(): void {
    const now = Date.now();
    this.stmts.sweepResults.run(now);
    this.stmts.sweepGroups.run(now);
    this.stmts.sweepChords.run(now, now);
    this.stmts.sweepChordSizes.run(now);
  }

  /** The hourly sweep expires results already; this runs it now. */
  async cleanup(): Promise<void> {
    if (this.db) this.sweep();
  }

  async close(): Promise<void> {
    const db = this.db;
    if (!db) return;
    await this.writes.flush().catch(() => undefined);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.statements = undefined;
    this.db = undefined;
    db.close();
  }
}

export function createSqliteBackend(url: string, context: BackendContext): ResultBackend {
  return new SqliteBackend(url, context);
}
