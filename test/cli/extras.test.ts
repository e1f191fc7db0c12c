/**
 * The CLI pieces a Celery user reaches for (issue 19), through the real CLI on an SQLite file: `shell` (a REPL
 * with the app and its tasks), `list bindings`, worker `-I/--include`, and `-C/--no-color`.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { uuid } from '../../src/protocol/ids.js';
import { runCli, startCli, type RunningProcess } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('cli-extras');
const db = `sqlite://${join(dir.path, 'celeriac.db')}`;
const APP = 'test/integration/fixtures/sqlite-app.ts';
const env = { CELERIAC_BROKER_URL: db, CELERIAC_RESULT_BACKEND: db };

const running: RunningProcess[] = [];

afterEach(async () => {
  for (const proc of running.splice(0)) {
    proc.kill('SIGKILL');
    await proc.exited();
  }
});
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

describe('celeriac list bindings', () => {
  it("prints Celery's table for the declared queues, with the default exchange where they name none", async () => {
    const listed = await runCli(['-A', 'test/cli/fixtures/queues-app.ts', 'list', 'bindings'], { env });
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const row = (q: string, e: string, r: string): string => `${q.padEnd(28)} ${e.padEnd(28)} ${r}`;
    expect(listed.stdout.split('\n')).toEqual([
      row('Queue', 'Exchange', 'Routing Key'),
      row('----------------', '----------------', '----------------'),
      row('default', 'tasks', 'default'),
      row('images', 'media', 'image.#'),
      '',
    ]);
  });

  it('shows the default queue of an app without taskQueues', async () => {
    const listed = await runCli(['-A', APP, 'list', 'bindings'], { env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`${'celery'.padEnd(28)} ${'celery'.padEnd(28)} celery\n`);
  });
});

describe('celeriac worker -I/--include', () => {
  it('imports the modules after the app; their tasks run, in a threads pool too', async () => {
    const queue = `extras-${uuid().slice(0, 8)}`;
    const worker = startCli(
      [
        '-A',
        APP,
        'worker',
        '-I',
        'test/cli/fixtures/extra-tasks.ts',
        '-P',
        'threads',
        '-c',
        '1',
        '-Q',
        queue,
      ],
      { env },
    );
    running.push(worker);
    await worker.waitFor(/extra\.mul/);
    const called = await runCli(
      ['-A', APP, 'call', 'extra.mul', '--args', '[6,7]', '-Q', queue, '--wait', '--timeout', '60'],
      { env },
    );
    expect(called.code).toBe(0);
    expect(called.stdout.trim().split('\n')[1]).toBe('42');
  });

  it('names a module that does not exist', async () => {
    const worker = await runCli(['-A', APP, 'worker', '-I', './no-such-module.ts', '-Q', `q-${uuid()}`], {
      env,
    });
    expect(worker.code).toBe(1);
    expect(worker.stderr).toContain('-I ./no-such-module.ts: no such file or package');
  });
});
