/**
 * `celeriac events --dump` and `celeriac events` (piped: plain lines) through the real CLI, watching a worker
 * process started with `-E` on a shared sqlite:// file; and the worker's banner telling task events and heartbeats
 * as they are.
 */
import { describe, expect, it } from 'vitest';
import { uuid } from '../../src/protocol/ids.js';
import { spawn } from 'node:child_process';
import { runCli, startCli, watchProcess, type RunningProcess } from '../support/processes.js';
import { CLI, SQLITE_APP, sqliteCliFiles } from '../support/cli-files.js';

const { env, running } = sqliteCliFiles('events-cli');
const APP = SQLITE_APP;

function start(args: readonly string[]): RunningProcess {
  const proc = startCli(['-A', APP, ...args], { env });
  running.push(proc);
  return proc;
}

describe('celeriac events', () => {
  it('--dump prints the worker coming online, its task events and heartbeats, and its shutdown', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const node = `ev-${queue}@test`;
    const dump = start(['events', '--dump']);
    await dump.waitFor(/^-> evdump: starting capture\.\.\.$/, 30_000);
    const worker = start(['worker', '-E', '-Q', queue, '-n', node, '-l', 'info']);
    await worker.waitFor(/task events: ON$/, 30_000);
    await dump.waitFor(
      new RegExp(`^${node} \\[[-0-9 :.]+\\] started: active=0, clock=\\d+, freq=2\\.0, `),
      30_000,
    );
    const call = await runCli(['-A', APP, 'call', 'tasks.add', '--args', '[2,3]', '--queue', queue], { env });
    const id = call.stdout.trim().split('\n')[0]!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await dump.waitFor(
      new RegExp(`^${node} \\[.*\\] task received: tasks\\.add\\(${id}\\) args=\\(2, 3\\) kwargs=\\{\\}`),
      30_000,
    );
    await dump.waitFor(
      new RegExp(
        `^${node} \\[.*\\] task succeeded: tasks\\.add\\(${id}\\) args=\\(2, 3\\) kwargs=\\{\\} .*result=5, runtime=`,
      ),
      30_000,
    );
    await dump.waitFor(
      new RegExp(`^${node} \\[.*\\] heartbeat: active=0, clock=\\d+, freq=2\\.0, .*processed=1, `),
      30_000,
    );
    worker.kill('SIGTERM');
    await dump.waitFor(new RegExp(`^${node} \\[.*\\] shutdown: active=0, `), 30_000);
    expect(await worker.exited()).toBe(0);
    dump.kill('SIGTERM');
    expect(await dump.exited()).toBe(0);
  }, 180_000);

  it('without a TTY prints plain lines with the workers and recent tasks', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const node = `top-${queue}@test`;
    const top = start(['events', '--freq', '0.2']);
    await top.waitFor(/live view/, 30_000);
    const worker = start(['worker', '--task-events', '-Q', queue, '-n', node]);
    await top.waitFor(new RegExp(`^worker ${node} ONLINE active=0 processed=0`), 30_000);
    const call = await runCli(['-A', APP, 'call', 'tasks.add', '--args', '[4,4]', '--queue', queue], { env });
    const id = call.stdout.trim().split('\n')[0]!;
    await top.waitFor(
      new RegExp(`^task ${id} SUCCESS tasks\\.add args=\\(4, 4\\) .*worker=${node} .*result=8`),
      30_000,
    );
    worker.kill('SIGTERM');
    await top.waitFor(new RegExp(`^worker ${node} OFFLINE`), 30_000);
    top.kill('SIGINT');
    expect(await top.exited()).toBe(0);
  }, 180_000);

  it('in a terminal redraws a screen of tasks and workers', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const node = `tty-${queue}@test`;
    // A pseudo-terminal of 120x30 through script(1); the whole process group is ended afterwards.
    const cli = `node --import tsx ${CLI} -A ${APP} events --freq 0.3`;
    const child = spawn('script', ['-qfec', `stty cols 120 rows 30; exec ${cli}`, '/dev/null'], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const tty = watchProcess(child, 30_000);
    try {
      await tty.waitFor(/celeriac events: sqlite:/);
      start(['worker', '-E', '-Q', queue, '-n', node]);
      await tty.waitFor(new RegExp(`Workers: ${node} ONLINE active=0`), 30_000);
      const call = await runCli(['-A', APP, 'call', 'tasks.add', '--args', '[5,6]', '--queue', queue], {
        env,
      });
      const id = call.stdout.trim().split('\n')[0]!;
      await tty.waitFor(new RegExp(`${id}.*tasks\\.add.*\\(5, 6\\).*SUCCESS`), 30_000);
      // The alternate screen, cursor home for each redraw.
      expect(tty.output()).toContain('\u001b[?1049h');
      expect(tty.output().split('\u001b[H').length).toBeGreaterThan(3);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await tty.exited();
    }
  }, 180_000);

  it('the banner says so when task events and heartbeats are off', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const worker = start(['worker', '--without-heartbeat', '-Q', queue, '-n', `nohb-${queue}@test`]);
    await worker.waitFor(
      /task events: OFF \(enable -E to monitor tasks in this worker\); heartbeats OFF \(--without-heartbeat\)$/,
      30_000,
    );
  });
});
