/**
 * What the CLI test files share (vitest only: it registers hooks): an SQLite file for broker and backend in a
 * directory removed after the file, the fixture app, and the processes a test starts, SIGKILLed after each test.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach } from 'vitest';
import type { RunningProcess } from './processes.js';
import { tempDir } from './tmp.js';

/** The app module the CLI tests load with `-A` (its tasks: tests/integration/fixtures/sqlite-app.ts). */
export const SQLITE_APP = 'test/integration/fixtures/sqlite-app.ts';
/** The CLI's entry, for commands run through another program (script(1), a shell). */
export const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

export interface SqliteCliFiles {
  readonly dir: { readonly path: string };
  /** `sqlite://<dir>/celeriac.db` */
  readonly db: string;
  /** The environment that points the CLI's broker and backend at `db`. */
  readonly env: Readonly<Record<string, string>>;
  /** Push what a test starts here: it is SIGKILLed (and awaited) after the test. */
  readonly running: RunningProcess[];
}

export function sqliteCliFiles(label: string): SqliteCliFiles {
  const dir = tempDir(label);
  const db = `sqlite://${join(dir.path, 'celeriac.db')}`;
  const running: RunningProcess[] = [];
  afterEach(async () => {
    for (const proc of running.splice(0)) {
      proc.kill('SIGKILL');
      await proc.exited();
    }
  });
  afterAll(() => dir.remove());
  return { dir, db, env: { CELERIAC_BROKER_URL: db, CELERIAC_RESULT_BACKEND: db }, running };
}
