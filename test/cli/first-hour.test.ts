/**
 * The small CLI fixes of a user's first hour (issue 19), through the real CLI on an SQLite file: `result` of a
 * failed task exits 1, `--expires` takes an ISO date, the purge prompt takes `y`, `multi --help` prints usage,
 * `multi start w1 --pidfile /x` names the node w1, "ready" comes before "received", autoscale shows in the
 * banner, and a module that fails to load says where (and which variable shows the whole stack).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { uuid } from '../../src/protocol/ids.js';
import { runCli, startCli, watchProcess } from '../support/processes.js';
import { CLI, SQLITE_APP, sqliteCliFiles } from '../support/cli-files.js';

const { dir, env, running } = sqliteCliFiles('first-hour');
const APP = SQLITE_APP;

describe('first-hour CLI fixes', () => {
  it('`result` of a failed task exits 1; `call --expires` takes an ISO date', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const worker = startCli(['-A', APP, 'worker', '-Q', queue, '-l', 'info'], { env });
    running.push(worker);
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    const failed = await runCli(
      ['-A', APP, 'call', 'tasks.fail', '--args', '["kaput"]', '-Q', queue, '--expires', expires, '--wait'],
      { env },
    );
    expect(failed.code).toBe(1);
    const id = failed.stdout.trim().split('\n')[0]!;
    const result = await runCli(['-A', APP, 'result', id], { env });
    expect(result.stdout).toBe('FAILURE\nValueError: kaput\n');
    expect(result.code).toBe(1);
    const bad = await runCli(['-A', APP, 'call', 'tasks.add', '--expires', '2026-13-45T99:00'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--expires is not a valid ISO-8601 date');
  });

  it('the purge prompt accepts y (in a terminal, through script(1))', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    await runCli(['-A', APP, 'call', 'tasks.add', '--args', '[1,1]', '-Q', queue], { env });
    const command = `${process.execPath} --import tsx ${CLI} -A ${APP} purge -Q ${queue}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const proc = watchProcess(child, 60_000);
    await proc.waitFor(/Are you sure/);
    child.stdin.write('y\n');
    expect(await proc.exited()).toBe(0);
    expect(proc.output()).toContain('Purged 1 message from 1 known task queue.');
  });

  it('`multi --help` prints the usage; `multi start w1 --pidfile /x` names the node w1', async () => {
    const help = await runCli(['multi', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: celeriac multi start');
    const pidfile = join(dir.path, '%n.pid');
    const show = await runCli(['multi', 'show', 'w1', '--pidfile', pidfile]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('-n w1@');
    expect(show.stdout).toContain(`--pidfile=${join(dir.path, 'w1.pid')}`);
    expect(show.stdout).not.toMatch(/-n \//);
  });

  it('shows autoscale in the banner as Celery does', async () => {
    const worker = startCli(
      ['-A', APP, 'worker', '-P', 'threads', '--autoscale', '4,2', '-Q', `q-${uuid()}`],
      {
        env,
      },
    );
    running.push(worker);
    expect(await worker.waitFor(/concurrency:/, 60_000)).toContain('concurrency: {min=2, max=4} (threads)');
  });

  it('logs "ready" before the first task it receives, even with tasks waiting in its queue', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const sent = await runCli(['-A', APP, 'call', 'tasks.add', '--args', `[${i},1]`, '-Q', queue], { env });
      ids.push(sent.stdout.trim());
    }
    const worker = startCli(['-A', APP, 'worker', '-Q', queue, '-l', 'info'], { env });
    running.push(worker);
    for (const id of ids) await worker.waitFor(new RegExp(`${id}\\] succeeded`), 60_000);
    const output = worker.output();
    const ready = output.search(/ ready\./);
    expect(ready).toBeGreaterThan(0);
    expect(output.search(/Task tasks\.add\[[^\]]+\] received/)).toBeGreaterThan(ready);
  }, 180_000);

  it('worker -X leaves queues out, --purge empties the rest first, --without-gossip/--without-mingle accepted', async () => {
    const keep = `keep-${uuid().slice(0, 8)}`;
    const skip = `skip-${uuid().slice(0, 8)}`;
    for (let i = 0; i < 2; i++)
      await runCli(['-A', APP, 'call', 'tasks.add', '--args', '[1,1]', '-Q', keep], { env });
    const args = ['-A', APP, 'worker', '-Q', `${keep},${skip}`, '-X', skip, '--purge', '-l', 'info'];
    const worker = startCli([...args, '--without-gossip', '--without-mingle'], { env });
    running.push(worker);
    await worker.waitFor(/ready\./, 60_000);
    expect(worker.output()).toContain('purge: Erased 2 messages from the queue.');
    expect(worker.output()).toContain(`.> ${keep}`);
    expect(worker.output()).not.toContain(`.> ${skip}`);
    expect(worker.output()).not.toMatch(/Task tasks\.add\[/);
  });

  it('global --workdir changes directory before -A loads; -q leaves the worker banner out', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const fixtures = 'test/integration/fixtures';
    const call = await runCli(
      ['--workdir', fixtures, '-A', './sqlite-app.ts', 'call', 'tasks.add', '-Q', queue],
      {
        env,
      },
    );
    expect(call.stderr).toBe('');
    expect(call.code).toBe(0);
    const missing = await runCli(['--workdir', join(dir.path, 'nowhere'), 'call', 'tasks.add'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--workdir');
    const worker = startCli(['-q', '-A', APP, 'worker', '-Q', queue, '-l', 'info'], { env });
    running.push(worker);
    await worker.waitFor(/ready\./, 60_000);
    expect(worker.output()).not.toContain('[tasks]');
  });

  it('`report` prints versions, platform and the app settings, passwords masked', async () => {
    const run = await runCli(['-A', APP, '-b', 'redis://:hunter2@127.0.0.1:6379/3', 'report'], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^software -> celeriac:\d+\.\d+\.\d+ node:\d+/);
    expect(run.stdout).toContain('app      -> fixture');
    expect(run.stdout).toContain('settings -> transport:redis');
    expect(run.stdout).toContain('broker: redis://:****@127.0.0.1:6379/3');
    expect(run.stdout).not.toContain('hunter2');
  });

  it('a task module that fails to load says where, and names CELERIAC_DEBUG', async () => {
    const module = join(dir.path, 'broken.ts');
    writeFileSync(
      module,
      'const settings: Record<string, string> = {};\nexport const n = settings.x!.length;\n',
    );
    const run = await runCli(['-A', module, 'worker'], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`loading the module failed: TypeError`);
    expect(run.stderr).toContain(`${module}:2:`);
    expect(run.stderr).toContain('CELERIAC_DEBUG=1');
    const debug = await runCli(['-A', module, 'worker'], { env: { ...env, CELERIAC_DEBUG: '1' } });
    expect(debug.stderr).toContain('Caused by: TypeError');
  });
});
