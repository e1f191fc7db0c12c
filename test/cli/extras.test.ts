/**
 * The CLI pieces a Celery user reaches for (issue 19), through the real CLI on an SQLite file: `shell` (a REPL
 * with the app and its tasks), `list bindings`, worker `-I/--include`, `-C/--no-color`, and `migrate` (SQLite to
 * SQLite, and Redis to RabbitMQ).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { uuid } from '../../src/protocol/ids.js';
import { useColor } from '../../src/cli/color.js';
import { runCli, startCli, watchProcess } from '../support/processes.js';
import { createVhost, listQueues } from '../support/rabbitmq.js';
import { REDIS_URL, testClient } from '../support/redis.js';
import { CLI, SQLITE_APP, sqliteCliFiles } from '../support/cli-files.js';

const { dir, db, env, running } = sqliteCliFiles('cli-extras');
const APP = SQLITE_APP;

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

/** The `celeriac events` screen in a pseudo-terminal (script(1)) once it shows a task done; the terminal's output. */
async function eventsScreen(globalFlags: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
  const queue = `extras-${uuid().slice(0, 8)}`;
  const cli = `node --import tsx ${CLI} ${globalFlags} -A ${APP} events --freq 0.3`;
  const child = spawn('script', ['-qfec', `stty cols 120 rows 30; exec ${cli}`, '/dev/null'], {
    env: { ...process.env, ...env, ...extraEnv },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const tty = watchProcess(child, 60_000);
  try {
    await tty.waitFor(/celeriac events: sqlite:/, 30_000);
    const worker = startCli(['-A', APP, 'worker', '-E', '-Q', queue, '-n', `${queue}@test`], { env });
    running.push(worker);
    const call = await runCli(['-A', APP, 'call', 'tasks.add', '--args', '[5,6]', '--queue', queue], { env });
    const id = call.stdout.trim().split('\n')[0]!;
    await tty.waitFor(new RegExp(`${id}.*tasks\\.add.*SUCCESS`), 30_000);
    return tty.output();
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    await tty.exited();
  }
}

describe('colours: -C/--no-color and NO_COLOR', () => {
  it('colours only on a terminal, never with --no-color or NO_COLOR', () => {
    expect(useColor({}, { isTTY: true }, {})).toBe(true);
    expect(useColor({}, { isTTY: false }, {})).toBe(false);
    expect(useColor({ color: false }, { isTTY: true }, {})).toBe(false);
    expect(useColor({}, { isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColor({}, { isTTY: true }, { NO_COLOR: '' })).toBe(true);
  });

  it('the events screen colours task states in a terminal, and not with -C or NO_COLOR', async () => {
    const green = '\u001b[32mSUCCESS';
    expect(await eventsScreen('')).toContain(green);
    const plain = await eventsScreen('-C');
    expect(plain).toContain('SUCCESS');
    expect(plain).not.toContain(green);
    expect(await eventsScreen('', { NO_COLOR: '1' })).not.toContain(green);
  });

  it('--no-color is accepted by every command', async () => {
    const report = await runCli(['--no-color', '-A', APP, 'report'], { env });
    expect(report.code).toBe(0);
    expect(report.stdout).not.toContain('\u001b[');
  });
});

describe('celeriac migrate', () => {
  it('moves the waiting messages of a queue to another broker, unchanged; --limit stops early', async () => {
    const source = `sqlite://${join(dir.path, 'source.db')}`;
    const dest = `sqlite://${join(dir.path, 'dest.db')}`;
    const queue = `extras-${uuid().slice(0, 8)}`;
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const sent = await runCli(
        ['-b', source, '-A', APP, 'call', 'tasks.add', '--args', `[${n},1]`, '-Q', queue],
        {
          env,
        },
      );
      ids.push(sent.stdout.trim());
    }
    const limited = await runCli(['migrate', source, dest, '-Q', queue, '-n', '1'], { env });
    expect(limited.stderr).toBe('');
    expect(limited.stdout).toBe(`Migrating task 1: tasks.add[${ids[0]}]\nMigrated 1 message.\n`);
    const rest = await runCli(['migrate', source, dest, '-Q', queue, '-t', '2'], { env });
    expect(rest.code).toBe(0);
    expect(rest.stdout).toContain(`Migrating task 2: tasks.add[${ids[2]}]`);
    expect(rest.stdout).toContain('Migrated 2 messages.');
    // All three wait on the destination, the source is empty; a worker there runs them.
    const worker = startCli(['-A', APP, 'worker', '-Q', queue, '-l', 'info'], {
      env: { CELERIAC_BROKER_URL: dest, CELERIAC_RESULT_BACKEND: db },
    });
    running.push(worker);
    for (const id of ids) await worker.waitFor(new RegExp(`${id}\\] succeeded`), 60_000);
    const left = await runCli(['-b', source, 'purge', '-Q', queue, '-f'], { env });
    expect(left.stdout).toContain('Purged 0 messages');
  });

  it('moves messages from Redis to RabbitMQ; a worker on RabbitMQ runs them', async () => {
    const source = REDIS_URL;
    const vhost = await createVhost('migrate');
    const redis = testClient();
    const queue = `extras-migrate-${uuid().slice(0, 8)}`;
    try {
      const ids: string[] = [];
      for (const n of [1, 2]) {
        const sent = await runCli(
          ['-b', source, '-A', APP, 'call', 'tasks.add', '--args', `[${n},1]`, '-Q', queue],
          { env },
        );
        ids.push(sent.stdout.trim());
      }
      const moved = await runCli(['migrate', source, vhost.url, '-Q', queue, '-t', '2'], { env });
      expect(moved.stderr).toBe('');
      expect(moved.stdout).toContain('Migrated 2 messages.');
      expect(await redis.llen(queue)).toBe(0);
      expect((await listQueues(vhost.name)).get(queue)).toBe(2);
      const worker = startCli(['-A', APP, 'worker', '-Q', queue, '-l', 'info'], {
        env: { CELERIAC_BROKER_URL: vhost.url, CELERIAC_RESULT_BACKEND: db },
      });
      running.push(worker);
      for (const id of ids) await worker.waitFor(new RegExp(`${id}\\] succeeded`), 60_000);
    } finally {
      for (const proc of running.splice(0)) {
        proc.kill('SIGKILL');
        await proc.exited();
      }
      await vhost.remove();
      await redis.del(queue, `_kombu.binding.${queue}`);
      redis.disconnect();
    }
  });
});
