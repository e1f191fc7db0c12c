/**
 * `db+postgresql://`, `db+mysql://` and `db+sqlite://`: results in Celery's own tables (schema.ts), so Python
 * Celery's database backend and Celeriac read each other's results (rows.ts says what each column holds).
 *
 * Writes made in one tick go out as one multi-row upsert that never replaces a stored SUCCESS
 * (`celery/backends/base.py:944`). A write or read that fails because the database went away is retried with
 * backoff (as Celery's `@retry` on every database operation, only longer), so results are not lost across a
 * database restart. Waiting LISTENs on PostgreSQL (pg-listener.ts) and polls with backoff on MySQL and SQLite.
 */
import { EventEmitter } from 'node:events';
import { ConnectionError } from '../../errors.js';
import { Batcher } from '../../lifecycle/async.js';
import { backoffDelay } from '../../lifecycle/backoff.js';
import type { Logger } from '../../lifecycle/logger.js';
import { maskUrl } from '../../lifecycle/url.js';
import { formatNaiveUtcIso } from '../../protocol/time.js';
import type { JsonValue, ResultMeta } from '../../types.js';
import type {
  BackendCapabilities,
  BackendContext,
  ChordCounter,
  ChordPart,
  ChordProgress,
  GroupMeta,
  ResultBackend,
  WaitOptions,
} from '../backend.js';
import { pollUntilReady } from '../wait.js';
import { SqlChordCounter } from './chord-counter.js';
import { readDatabaseSettings, type DatabaseSettings } from './settings.js';
import { pgConfig } from './pg-client.js';
import { PgResultListener } from './pg-listener.js';
import { decodeGroup, encodeGroup, EXTENDED_COLUMNS, metaToRow, rowToMeta, sqlTime } from './rows.js';
import { migrate, resolveTables, taskColumns, type Tables } from './schema.js';
import { createSqlClient, isTransient, type SqlClient } from './sql-client.js';
import { parseDatabaseUrl, type DatabaseTarget } from './url.js';
import { upsertTasks } from './upsert.js';

/** Retry policy for operations that failed because the database went away: about two minutes in all. */
const RETRY = { initialMs: 50, maxMs: 5_000, factor: 2, jitter: true };
const MAX_ATTEMPTS = 30;

/** In-process writes wake in-process pollers at once (MySQL, SQLite); other processes' writes are polled. */
const notifiers = new Map<string, EventEmitter>();

function notifierFor(url: string): EventEmitter {
  let notifier = notifiers.get(url);
  if (!notifier) {
    notifier = new EventEmitter();
    notifier.setMaxListeners(0);
    notifiers.set(url, notifier);
  }
  return notifier;
}

export class DatabaseBackend implements ResultBackend, ChordCounter {
  readonly url: string;
  readonly capabilities: BackendCapabilities;
  /** Counted in Celeriac's chord tables (chord-counter.ts), each call retried as every other operation. */
  readonly chordCounter: ChordCounter = this;
  private counter: SqlChordCounter | undefined;
  private readonly target: DatabaseTarget;
  private readonly settings: DatabaseSettings;
  private readonly logger: Logger;
  private readonly notifier: EventEmitter;
  private readonly writes = new Batcher<ResultMeta>((metas) => this.write(metas));
  private clientPromise: Promise<SqlClient> | undefined;
  private client: SqlClient | undefined;
  private tables: Tables | undefined;
  private extendedColumns = false;
  private listener: PgResultListener | undefined;
  private closed = false;

  constructor(
    url: string,
    private readonly context: BackendContext,
  ) {
    this.url = maskUrl(url);
    this.target = parseDatabaseUrl(url);
    this.settings = readDatabaseSettings(context.database);
    this.logger = context.logger;
    this.notifier = notifierFor(url);
    this.capabilities = {
      persistent: true,
      shared: true,
      push: this.target.dialect === 'postgresql',
      groups: true,
      chords: 'native',
      autoExpire: false,
    };
  }

  async connect(): Promise<void> {
    await this.connected();
  }

  private connected(): Promise<SqlClient> {
    this.clientPromise ??= this.retrying('connect', async () => {
      const client = await createSqlClient(this.target, this.settings.engine, this.logger);
      try {
        const tables = resolveTables(client, this.settings.tables);
        await migrate(client, tables);
        const columns = await taskColumns(client, tables);
        this.extendedColumns = EXTENDED_COLUMNS.every((c) => columns.has(c));
        this.tables = tables;
        this.counter = new SqlChordCounter(client, tables, () => sqlTime(formatNaiveUtcIso(Date.now()))!);
        this.client = client;
        if (this.target.dialect === 'postgresql') {
          this.listener = new PgResultListener(
            pgConfig(this.target, this.settings.engine),
            tables.channel,
            (id) => this.get(id),
            this.logger,
          );
        }
        return client;
      } catch (error) {
        await client.close().catch(() => undefined);
        throw error;
      }
    });
    this.clientPromise.catch(() => (this.clientPromise = undefined));
    return this.clientPromise;
  }

  private tableNames(): Tables {
    if (!this.tables) throw new ConnectionError(`result backend ${this.url} is not connected`);
    return this.tables;
  }

  /** Runs `op`, again with backoff while the failure is the database being unreachable. */
  private async retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await op();
      } catch (error) {
        if (this.closed || !isTransient(error) || attempt + 1 >= MAX_ATTEMPTS) throw error;
        this.logger.warn(
          `database result backend ${this.url}: ${what} failed (${(error as Error).message}); retrying`,
        );
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(RETRY, attempt)));
      }
    }
  }

  private run<T>(op: (client: SqlClient) => Promise<T>, what = 'query'): Promise<T> {
    return this.retrying(what, async () => op(await this.connected()));
  }

  store(meta: ResultMeta): Promise<void> {
    return this.writes.add(meta);
  }

  private async write(metas: ResultMeta[]): Promise<void> {
    if (this.closed) throw new ConnectionError(`result backend ${this.url} is closed; cannot store results`);
    await this.run(async (client) => {
      const rows = metas.map((meta) => metaToRow(meta, this.extendedColumns));
      await upsertTasks(client, this.tableNames(), rows);
    }, 'storing results');
    for (const meta of metas) this.notifier.emit(meta.task_id);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const { rows } = await this.run((client) =>
      client.query(`SELECT * FROM ${this.tableNames().task} WHERE task_id = ?`, [taskId]),
    );
    return rows[0] ? rowToMeta(rows[0]) : null;
  }

  async waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    await this.connected();
    if (this.listener) return this.listener.waitFor(taskId, options);
    return pollUntilReady(
      taskId,
      () => this.get(taskId),
      { ...options, intervalMs: options.intervalMs ?? 500 },
      this.notifier,
    );
  }

  async forget(taskId: string): Promise<void> {
    await this.writes.flush();
    await this.run((c) => c.query(`DELETE FROM ${this.tableNames().task} WHERE task_id = ?`, [taskId]));
  }

  async saveGroup(groupId: string, meta: GroupMeta): Promise<void> {
    const t = this.tableNames();
    const now = sqlTime(formatNaiveUtcIso(Date.now()));
    const result = Buffer.from(encodeGroup(meta));
    await this.run((c) =>
      c.transaction(async (tx) => {
        await tx.query(`DELETE FROM ${t.group} WHERE taskset_id = ?`, [groupId]);
        const id = t.groupId === null ? '' : 'id, ';
        const value = t.groupId === null ? '' : `${t.groupId}, `;
        await tx.query(
          `INSERT INTO ${t.group} (${id}taskset_id, result, date_done) VALUES (${value}?, ?, ?)`,
          [groupId, result, now],
        );
      }),
    );
  }

  async getGroup(groupId: string): Promise<GroupMeta | null> {
    const { rows } = await this.run((c) =>
      c.query(`SELECT result FROM ${this.tableNames().group} WHERE taskset_id = ?`, [groupId]),
    );
    const row = rows[0];
    return row && row.result ? decodeGroup(row.result as Uint8Array, groupId) : null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.run((c) => c.query(`DELETE FROM ${this.tableNames().group} WHERE taskset_id = ?`, [groupId]));
  }

  /**
   * Deletes results, groups and chords older than `result_expires` (Celery's `DatabaseBackend.cleanup`, run daily
   * by the `celery.backend_cleanup` task). Rows without `date_done` (states that are not ready) are kept, as Celery.
   */
  async cleanup(): Promise<void> {
    const expires = this.context.resultExpires;
    if (expires === null) return;
    const cutoff = sqlTime(formatNaiveUtcIso(Date.now() - expires * 1000))!;
    const t = this.tableNames();
    await this.writes.flush();
    await this.run((c) => c.query(`DELETE FROM ${t.task} WHERE date_done < ?`, [cutoff]), 'cleanup');
    await this.run((c) => c.query(`DELETE FROM ${t.group} WHERE date_done < ?`, [cutoff]), 'cleanup');
    await this.run(() => this.chords().cleanup(cutoff), 'cleanup');
  }

  private chords(): SqlChordCounter {
    if (!this.counter) throw new ConnectionError(`result backend ${this.url} is not connected`);
    return this.counter;
  }

  setChordSize(groupId: string, size: number): Promise<void> {
    return this.run(() => this.chords().setChordSize(groupId, size), 'chord counting');
  }

  addChordPart(groupId: string, part: ChordPart): Promise<ChordProgress> {
    // Retrying is safe: a part already recorded is not counted again.
    return this.run(() => this.chords().addChordPart(groupId, part), 'chord counting');
  }

  chordParts(groupId: string): Promise<[number, string, string, JsonValue][]> {
    return this.run(() => this.chords().chordParts(groupId), 'chord counting');
  }

  addToChord(groupId: string, count?: number): Promise<void> {
    return this.run(() => this.chords().addToChord(groupId, count), 'chord counting');
  }

  claimChord(groupId: string, when: 'complete' | 'incomplete'): Promise<boolean> {
    return this.run(() => this.chords().claimChord(groupId, when), 'chord counting');
  }

  deleteChord(groupId: string): Promise<void> {
    return this.run(() => this.chords().deleteChord(groupId), 'chord counting');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writes.flush().catch(() => undefined);
    this.closed = true;
    await this.listener?.close();
    const client = this.client;
    this.client = undefined;
    this.clientPromise = undefined;
    await client?.close();
  }
}

export function createDatabaseBackend(url: string, context: BackendContext): ResultBackend {
  return new DatabaseBackend(url, context);
}
