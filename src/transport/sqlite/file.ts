/**
 * Opening the embedded SQLite database shared by the `sqlite://` broker and result backend.
 * `sqlite://celeriac.db` is relative to the working directory, `sqlite:///var/lib/celeriac.db` is absolute.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ImproperlyConfigured } from '../../errors.js';

export type SqliteDatabase = Database.Database;

/** The file path a `sqlite://` URL names, or a clear error naming the setting. */
export function sqlitePath(url: string, setting: string): string {
  const match = /^sqlite:\/\/([^?#]*)/.exec(url);
  const path = match?.[1] ?? '';
  if (path === '' || path === ':memory:') {
    throw new ImproperlyConfigured(
      `${setting} "${url}" names no database file: use sqlite://celeriac.db (relative) or sqlite:///var/lib/celeriac.db` +
        ' (absolute); for a broker inside one process use memory://',
    );
  }
  return resolve(path);
}

/** Opens the file in WAL mode with a busy timeout, so several processes can share it. */
export function openSqlite(url: string, setting: string): SqliteDatabase {
  const path = sqlitePath(url, setting);
  try {
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, { timeout: 10_000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return db;
  } catch (error) {
    throw new ImproperlyConfigured(
      `${setting}: cannot open SQLite database ${path}: ${(error as Error).message}`,
    );
  }
}
