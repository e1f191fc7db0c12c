/**
 * `--persistent`: every event the dashboard receives, kept in SQLite, so that a restart replays them and loses
 * nothing (Flower's `--persistent` saves a shelve file at exit only, so a crash loses everything since the start).
 * Bounded: at most `maxTasks` tasks, the oldest task's events deleted first; worker events keep only the latest
 * of each kind per worker (enough to rebuild its record and its heartbeat history).
 *
 * Writes are batched: events queue in memory and go to disk in one transaction every `flushMs` (and at close).
 */
import Database from 'better-sqlite3';
import type { JsonValue } from '../index.js';

type Event = Readonly<Record<string, JsonValue>>;

export interface EventStore {
  /** Every stored event in arrival order (tasks and workers), parsed one at a time as the caller iterates. */
  load(): Iterable<Event>;
  /** How many events were ever added (more than `load()` gives: worker events are kept latest only). */
  eventCount(): number;
  /** Queues an event; `taskId` for task events, null for the others. */
  add(event: Event, taskId: string | null): void;
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tasks (uuid TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_seq ON tasks (seq);
CREATE TABLE IF NOT EXISTS task_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL, event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS task_events_uuid ON task_events (uuid);
CREATE TABLE IF NOT EXISTS worker_events (
  hostname TEXT NOT NULL, type TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,
  PRIMARY KEY (hostname, type)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private pending: { event: Event; taskId: string | null }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private seq: number;
  private closed = false;

  constructor(
    readonly file: string,
    private readonly maxTasks: number,
    private readonly flushMs = 200,
  ) {
    if (!Number.isSafeInteger(maxTasks) || maxTasks < 1) {
      throw new RangeError(`--max-tasks must be a positive integer, got ${maxTasks}`);
    }
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('seq') as
      { value: number } | undefined;
    this.seq = row?.value ?? 0;
    const events = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('events') as
      { value: number } | undefined;
    this.events = events?.value ?? 0;
  }

  private events: number;

  eventCount(): number {
    return this.events + this.pending.length;
  }

  /**
   * A generator over the rows: a restart with 100,000 tasks replays some 300,000 events, which as one parsed array
   * would briefly take more memory than the state they rebuild. No other statement may run on the connection
   * until the iteration ends (Monitor.start applies them synchronously).
   */
  *load(): IterableIterator<Event> {
    const rows = this.db
      .prepare(
        `SELECT event, seq FROM task_events UNION ALL SELECT event, seq FROM worker_events ORDER BY seq`,
      )
      .iterate() as IterableIterator<{ event: string }>;
    for (const row of rows) yield JSON.parse(row.event) as Event;
  }

  add(event: Event, taskId: string | null): void {
    if (this.closed) return;
    this.pending.push({ event, taskId });
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  /** Writes the queued events in one transaction, then evicts the oldest tasks past `maxTasks`. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const addTask = this.db.prepare('INSERT OR IGNORE INTO tasks (uuid, seq) VALUES (?, ?)');
    const addEvent = this.db.prepare('INSERT INTO task_events (seq, uuid, event) VALUES (?, ?, ?)');
    const setWorker = this.db.prepare(
      'INSERT OR REPLACE INTO worker_events (hostname, type, seq, event) VALUES (?, ?, ?, ?)',
    );
    const evict = this.db.prepare(
      `DELETE FROM task_events WHERE uuid IN (SELECT uuid FROM tasks ORDER BY seq LIMIT ?)`,
    );
    const evictTasks = this.db.prepare(
      `DELETE FROM tasks WHERE uuid IN (SELECT uuid FROM tasks ORDER BY seq LIMIT ?)`,
    );
    const count = this.db.prepare('SELECT COUNT(*) AS n FROM tasks');
    const saveSeq = this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const { event, taskId } of batch) {
        this.seq += 1;
        const text = JSON.stringify(event);
        if (taskId !== null) {
          addTask.run(taskId, this.seq);
          addEvent.run(this.seq, taskId, text);
        } else if (typeof event.hostname === 'string' && typeof event.type === 'string') {
          setWorker.run(event.hostname, event.type, this.seq, text);
        }
      }
      const over = (count.get() as { n: number }).n - this.maxTasks;
      if (over > 0) {
        evict.run(over);
        evictTasks.run(over);
      }
      saveSeq.run('seq', this.seq);
      saveSeq.run('events', (this.events += batch.length));
    })();
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }
}
