/**
 * `db+<SQLAlchemy URL>` result backend URLs (`celery/backends/database`, reference §1.16): `db+postgresql://`,
 * `db+mysql://` (MariaDB too) and `db+sqlite://`. A `+driver` part (`+psycopg2`, `+pymysql`, ...) names a Python
 * DB-API module; it is accepted and ignored, since Celeriac uses `pg`, `mysql2` and better-sqlite3. SQLite paths
 * follow SQLAlchemy: `db+sqlite:///relative.db` (three slashes) and `db+sqlite:////abs/path.db` (four).
 */
import { resolve } from 'node:path';
import { ImproperlyConfigured } from '../../errors.js';
import { maskUrl } from '../../lifecycle/url.js';

export type Dialect = 'postgresql' | 'mysql' | 'sqlite';

export interface ServerTarget {
  readonly dialect: 'postgresql' | 'mysql';
  readonly host: string;
  readonly port: number | undefined;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly database: string | undefined;
  /** Query parameters (`?sslmode=require`, `?charset=utf8mb4`, ...). */
  readonly query: Readonly<Record<string, string>>;
}

export interface SqliteTarget {
  readonly dialect: 'sqlite';
  readonly path: string;
}

export type DatabaseTarget = ServerTarget | SqliteTarget;

const DIALECTS: Record<string, Dialect> = {
  postgresql: 'postgresql',
  postgres: 'postgresql',
  mysql: 'mysql',
  mariadb: 'mysql',
  sqlite: 'sqlite',
};

function bad(url: string, why: string): never {
  throw new ImproperlyConfigured(
    `Invalid database result backend URL "${maskUrl(url)}" in backend: ${why}. Examples: ` +
      'db+postgresql://user:password@localhost/celery, db+mysql+pymysql://user@localhost/celery, ' +
      'db+sqlite:///results.db (relative) or db+sqlite:////var/lib/results.db (absolute)',
  );
}

export function parseDatabaseUrl(url: string): DatabaseTarget {
  const match = /^db\+([a-z0-9]+)(?:\+[a-z0-9_]+)?:\/\/(.*)$/i.exec(url);
  if (!match) bad(url, 'expected db+<dialect>[+<driver>]://...');
  const dialect = DIALECTS[match[1]!.toLowerCase()];
  if (!dialect) bad(url, `unknown database "${match[1]}" (use postgresql, mysql or sqlite)`);
  const rest = match[2]!;
  if (dialect === 'sqlite') {
    // SQLAlchemy: everything after "sqlite:///" is the path, so "////abs" is "/abs".
    const path = rest.startsWith('/') ? rest.slice(1).replace(/\?.*$/, '') : '';
    if (path === '' || path === ':memory:') {
      bad(url, 'an in-memory SQLite database cannot be shared with workers; name a file');
    }
    return { dialect, path: resolve(path) };
  }
  let parsed: URL;
  try {
    parsed = new URL(`${dialect}://${rest}`);
  } catch {
    return bad(url, 'the host part cannot be parsed');
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return {
    dialect,
    host: parsed.hostname || 'localhost',
    port: parsed.port ? Number(parsed.port) : undefined,
    user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    database: database === '' ? undefined : database,
    query: Object.fromEntries(parsed.searchParams),
  };
}
