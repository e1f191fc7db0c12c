/**
 * One small interface over the three SQL drivers (`pg`, `mysql2`, better-sqlite3), so the backend's SQL is
 * written once with `?` placeholders. Each client keeps a connection pool (one connection for SQLite) and opens
 * connections again after the server went away; the backend retries what failed (database-backend.ts).
 */
import type { Logger } from '../../lifecycle/logger.js';
import type { DatabaseTarget, Dialect } from './url.js';

export type Row = Record<string, unknown>;

export interface SqlResult {
  readonly rows: Row[];
  /** Rows inserted, updated or deleted. */
  readonly affected: number;
}

export interface SqlExecutor {
  query(sql: string, params?: readonly unknown[]): Promise<SqlResult>;
}

export interface SqlClient extends SqlExecutor {
  readonly dialect: Dialect;
  /** MariaDB (sequences, as SQLAlchemy creates them there) rather than MySQL (AUTO_INCREMENT). */
  readonly mariadb: boolean;
  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** `database_engine_options` that mean something here (SQLAlchemy's names), and `database_short_lived_sessions`. */
export interface EngineOptions {
  /** Connections kept open (`pool_size`, default 5) plus `max_overflow` (default 10). */
  readonly poolSize: number;
  /** Seconds to wait for a free connection (`pool_timeout`, default 30). */
  readonly poolTimeout: number;
  /** Seconds after which a connection is replaced (`pool_recycle`, -1 = never). */
  readonly poolRecycle: number;
  /** Extra options handed to the driver as they are (`connect_args`). */
  readonly connectArgs: Readonly<Record<string, unknown>>;
  /** Close connections as soon as they are idle instead of keeping them (`database_short_lived_sessions`). */
  readonly shortLived: boolean;
}

export async function createSqlClient(
  target: DatabaseTarget,
  engine: EngineOptions,
  logger: Logger,
): Promise<SqlClient> {
  switch (target.dialect) {
    case 'postgresql':
      return (await import('./pg-client.js')).createPgClient(target, engine, logger);
    case 'mysql':
      return (await import('./mysql-client.js')).createMysqlClient(target, engine, logger);
    case 'sqlite':
      return (await import('./sqlite-client.js')).createSqliteClient(target);
  }
}

/** Errors worth retrying: the server or the network went away, or the pool could not connect in time. */
export function isTransient(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; fatal?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code)) return true;
  // PostgreSQL SQLSTATE: connection exceptions (08), shutdown and "cannot connect now" (57P01-57P03), serialization
  // failure and deadlock (40001, 40P01).
  if (/^(08...|57P0[123]|40001|40P01)$/.test(code)) return true;
  // MySQL/MariaDB: lost connection, server gone, deadlock, lock wait timeout, too many connections.
  if (
    /^(PROTOCOL_CONNECTION_LOST|ER_CON_COUNT_ERROR|ER_LOCK_DEADLOCK|ER_LOCK_WAIT_TIMEOUT|ER_SERVER_SHUTDOWN)$/.test(
      code,
    )
  ) {
    return true;
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection lost|server closed the connection/i.test(
    message,
  );
}
