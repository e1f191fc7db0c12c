/**
 * A database of its own for each test file on the shared PostgreSQL and MariaDB servers (`.ci/run` makes sure
 * they run), created on demand and dropped afterwards, so files run in parallel, across worktrees too.
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export const PG_ADMIN_URL =
  process.env.CELERIAC_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const MYSQL_ADMIN_URL = process.env.CELERIAC_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql';

export interface TestDatabase {
  /** The database's name. */
  readonly name: string;
  /** `db+postgresql://...` or `db+mysql://...` for the backend and for Python Celery. */
  readonly url: string;
  drop(): Promise<void>;
}

function uniqueName(prefix: string): string {
  return `celeriac_${prefix.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
}

function withDatabase(adminUrl: string, name: string): URL {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url;
}

export async function createPgDatabase(prefix: string): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(PG_ADMIN_URL, name);
  return {
    name,
    url: `db+postgresql://${url.host === '' ? '' : `${url.username ? `${url.username}@` : ''}${url.host}`}${url.pathname}`,
    async drop() {
      const client = new pg.Client({ connectionString: PG_ADMIN_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export async function createMysqlDatabase(prefix: string): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const admin = await mysql.createConnection(MYSQL_ADMIN_URL);
  try {
    await admin.query(`CREATE DATABASE \`${name}\``);
  } finally {
    await admin.end();
  }
  const url = withDatabase(MYSQL_ADMIN_URL, name);
  return {
    name,
    url: `db+mysql://${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`,
    async drop() {
      const client = await mysql.createConnection(MYSQL_ADMIN_URL);
      try {
        await client.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await client.end();
      }
    },
  };
}
