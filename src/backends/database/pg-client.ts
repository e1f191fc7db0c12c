/** PostgreSQL through `pg`: a Pool, timestamps read as text (naive UTC, as Celery writes them). */
import pg from 'pg';
import type { Logger } from '../../lifecycle/logger.js';
import type { EngineOptions, SqlClient, SqlExecutor, SqlResult } from './sql-client.js';
import type { ServerTarget } from './url.js';

const TIMESTAMP_OID = 1114;

/** `?` placeholders to `$1, $2, ...` (the backend's SQL has no `?` inside literals). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Timestamps as the text PostgreSQL sends (naive UTC), not a Date in the local time zone. */
export const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === TIMESTAMP_OID
      ? (value: string) => value
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export function pgConfig(target: ServerTarget, engine: EngineOptions): pg.PoolConfig {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    ...(target.query.sslmode && target.query.sslmode !== 'disable'
      ? { ssl: { rejectUnauthorized: false } }
      : {}),
    types: pgTypes,
    max: engine.poolSize,
    connectionTimeoutMillis: engine.poolTimeout * 1000,
    idleTimeoutMillis: engine.shortLived ? 1 : 30_000,
    ...(engine.poolRecycle > 0 ? { maxLifetimeSeconds: engine.poolRecycle } : {}),
    ...engine.connectArgs,
  };
}

function result(r: pg.QueryResult): SqlResult {
  return { rows: r.rows as Record<string, unknown>[], affected: r.rowCount ?? 0 };
}

class PgClient implements SqlClient {
  readonly dialect = 'postgresql' as const;
  readonly mariadb = false;

  constructor(private readonly pool: pg.Pool) {}

  async query(sql: string, params: readonly unknown[] = []): Promise<SqlResult> {
    return result(await this.pool.query(numbered(sql), params as unknown[]));
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const value = await fn({
        query: async (sql, params = []) => result(await client.query(numbered(sql), params as unknown[])),
      });
      await client.query('COMMIT');
      return value;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => (broken = true));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export function createPgClient(target: ServerTarget, engine: EngineOptions, logger: Logger): SqlClient {
  const pool = new pg.Pool(pgConfig(target, engine));
  // An idle connection that breaks (server restart) is dropped by the pool; the next query opens a new one.
  pool.on('error', (error) => logger.warn(`database result backend: idle connection lost: ${error.message}`));
  return new PgClient(pool);
}
