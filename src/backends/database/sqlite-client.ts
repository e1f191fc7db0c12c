/**
 * SQLite through better-sqlite3 (synchronous): one connection in WAL mode with a busy timeout, so several
 * processes share the file. Statements and transactions run one at a time, so an awaited step inside a
 * transaction never lets another statement of this process slip into it.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ImproperlyConfigured } from '../../errors.js';
import type { SqlClient, SqlExecutor, SqlResult } from './sql-client.js';
import type { SqliteTarget } from './url.js';

class SqliteClient implements SqlClient {
  readonly dialect = 'sqlite' as const;
  readonly mariadb = false;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  private run(sql: string, params: readonly unknown[]): SqlResult {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    if (statement.reader) return { rows: statement.all(...params) as Record<string, unknown>[], affected: 0 };
    return { rows: [], affected: statement.run(...params).changes };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }

  query(sql: string, params: readonly unknown[] = []): Promise<SqlResult> {
    return this.serial(async () => this.run(sql, params));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      // IMMEDIATE takes the write lock first, so two processes never both read a count and then write.
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const value = await fn({ query: async (sql, params = []) => this.run(sql, params) });
        this.db.exec('COMMIT');
        return value;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.tail;
    this.db.close();
  }
}

export function createSqliteClient(target: SqliteTarget): SqlClient {
  try {
    mkdirSync(dirname(target.path), { recursive: true });
    const db = new Database(target.path, { timeout: 10_000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return new SqliteClient(db);
  } catch (error) {
    throw new ImproperlyConfigured(
      `backend: cannot open SQLite database ${target.path}: ${(error as Error).message}`,
    );
  }
}
