/** MySQL and MariaDB through `mysql2`: a pool, DATETIME read as text, MariaDB told apart by its version string. */
import mysql from 'mysql2/promise';
import type { Logger } from '../../lifecycle/logger.js';
import type { EngineOptions, SqlClient, SqlExecutor, SqlResult } from './sql-client.js';
import type { ServerTarget } from './url.js';

type Executor = Pick<mysql.Pool, 'query'>;

async function run(executor: Executor, sql: string, params: readonly unknown[]): Promise<SqlResult> {
  const [rows] = await executor.query(sql, params as unknown[]);
  if (Array.isArray(rows)) return { rows: rows as Record<string, unknown>[], affected: 0 };
  return { rows: [], affected: (rows as mysql.ResultSetHeader).affectedRows };
}

class MysqlClient implements SqlClient {
  readonly dialect = 'mysql' as const;

  constructor(
    private readonly pool: mysql.Pool,
    readonly mariadb: boolean,
  ) {}

  query(sql: string, params: readonly unknown[] = []): Promise<SqlResult> {
    return run(this.pool, sql, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const connection = await this.pool.getConnection();
    try {
      await connection.beginTransaction();
      const value = await fn({ query: (sql, params = []) => run(connection, sql, params) });
      await connection.commit();
      return value;
    } catch (error) {
      await connection.rollback().catch(() => connection.destroy());
      throw error;
    } finally {
      connection.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function defined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

export async function createMysqlClient(
  target: ServerTarget,
  engine: EngineOptions,
  logger: Logger,
): Promise<SqlClient> {
  const pool = mysql.createPool({
    host: target.host,
    ...defined({
      port: target.port,
      user: target.user,
      password: target.password,
      database: target.database,
    }),
    charset: target.query.charset ?? 'utf8mb4',
    dateStrings: true,
    supportBigNumbers: true,
    connectionLimit: engine.poolSize,
    connectTimeout: engine.poolTimeout * 1000,
    maxIdle: engine.shortLived ? 0 : engine.poolSize,
    idleTimeout: engine.shortLived ? 1 : 60_000,
    enableKeepAlive: true,
    ...engine.connectArgs,
  });
  pool.on('connection', (connection) => {
    connection.on('error', (error: Error) =>
      logger.warn(`database result backend: connection lost: ${error.message}`),
    );
  });
  const [rows] = await pool.query('SELECT VERSION() AS version');
  const version = (rows as { version?: string }[])[0]?.version ?? '';
  return new MysqlClient(pool, /mariadb/i.test(version));
}
