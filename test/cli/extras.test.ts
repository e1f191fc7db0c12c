/**
 * The CLI pieces a Celery user reaches for (issue 19), through the real CLI on an SQLite file: `shell` (a REPL
 * with the app and its tasks), `list bindings`, worker `-I/--include`, and `-C/--no-color`.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('cli-extras');
const db = `sqlite://${join(dir.path, 'celeriac.db')}`;
const APP = 'test/integration/fixtures/sqlite-app.ts';
const env = { CELERIAC_BROKER_URL: db, CELERIAC_RESULT_BACKEND: db };

afterAll(() => dir.remove());

describe('celeriac shell', () => {
  it('binds app, celery, tasks and each task by its short name; reads lines from stdin', async () => {
    const input = [
      'add.name',
      'celery === app',
      'Object.keys(tasks).sort().join(",")',
      'typeof group',
      'String(await Promise.resolve(6 * 7)) + "!"',
      '.exit',
      '',
    ].join('\n');
    const shell = await runCli(['-A', APP, 'shell'], { env, input });
    expect(shell.stderr).toBe('');
    expect(shell.code).toBe(0);
    expect(shell.stdout).toContain(
      'celeriac shell: app fixture (also as celery), tasks: add, fail, hold, tsum',
    );
    expect(shell.stdout).toContain("'tasks.add'");
    expect(shell.stdout).toContain('true');
    expect(shell.stdout).toMatch(/'[^']*tasks\.add,tasks\.fail,tasks\.hold,tasks\.tsum[^']*'/);
    expect(shell.stdout).toContain("'function'");
    expect(shell.stdout).toContain("'42!'");
  });

  it('ends when stdin closes, without .exit', async () => {
    const shell = await runCli(['-A', APP, 'shell'], { env, input: 'hold.name\n' });
    expect(shell.code).toBe(0);
    expect(shell.stdout).toContain("'tasks.hold'");
  });
});
