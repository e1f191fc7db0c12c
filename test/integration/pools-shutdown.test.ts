/**
 * Worker processes shutting down and restarting, on a SQLite broker: SIGTERM to the whole process group while
 * thousands of tasks run (nothing lost, nothing run twice), cold shutdown, SIGHUP restart, pid files.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { startCli, type RunningProcess } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';
import { counts } from './pool-behaviours.js';

const dir = tempDir('pools-shutdown');
const db = `sqlite://${join(dir.path, 'celeriac.db')}`;
const APP = 'test/integration/fixtures/pool-app.ts';
const running: RunningProcess[] = [];

function worker(
  queue: string,
  args: string[],
  options: { record?: string; detached?: boolean } = {},
): RunningProcess {
  const env = { CELERIAC_BROKER_URL: db, CELERIAC_RESULT_BACKEND: db, RECORD_FILE: options.record ?? '' };
  const proc = startCli(['-A', APP, 'worker', '-Q', queue, '-l', 'info', ...args], {
    env,
    detached: options.detached ?? false,
  });
  running.push(proc);
  return proc;
}

function client(): Celery {
  const app = new Celery('client', { broker: db, backend: db });
  app.logger = silentLogger();
  return app;
}

function recorded(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

afterEach(async () => {
  for (const proc of running.splice(0)) {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      proc.kill('SIGKILL');
    }
    await proc.exited();
  }
});
afterAll(() => dir.remove());

describe.each(['prefork', 'threads'] as const)('%s worker shutdown', (pool) => {
  it('drains on SIGTERM to its whole process group during 5,000 tasks; a second worker runs the rest exactly once', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const record = join(dir.path, `${queue}.record`);
    const app = client();
    const N = 5000;
    // All queued before the first worker starts: it is stopped part way through them however fast it runs.
    await app.sendTasks(
      Array.from({ length: N }, (_, i) => ({ name: 'tasks.record', args: [i], options: { queue } })),
    );
    const first = worker(queue, ['-P', pool, '-c', '2', '--shutdown-timeout', '60'], {
      record,
      detached: true,
    });
    await first.waitFor(/ready\./);
    await expect.poll(() => recorded(record).length, { timeout: 30_000 }).toBeGreaterThanOrEqual(500);
    // What systemd (KillMode=control-group), a container runtime or Ctrl-C does: every process of the group.
    process.kill(-first.pid, 'SIGTERM');
    expect(await first.exited()).toBe(0);
    expect(first.output()).toMatch(/Warm shutdown/);
    expect(first.output()).not.toMatch(/turning cold|exited prematurely|WorkerLostError/);
    const byFirst = recorded(record).length;
    expect(byFirst).toBeLessThan(N);
    const second = worker(queue, ['-P', pool, '-c', '2'], { record });
    await second.waitFor(/ready\./);
    await expect
      .poll(() => recorded(record).length, { timeout: 60_000, interval: 200 })
      .toBeGreaterThanOrEqual(N);
    const seen = counts(recorded(record), N);
    expect(seen.filter((c) => c === 0)).toHaveLength(0);
    expect(seen.filter((c) => c > 1)).toHaveLength(0);
    await app.close();
  }, 180_000);
});

describe('cold shutdown and restart', () => {
  it('on SIGQUIT gives back unacknowledged tasks, records early-acknowledged ones as lost, and exits 1', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const w = worker(queue, ['-P', 'prefork', '-c', '2']);
    await w.waitFor(/ready\./);
    const app = client();
    const early = await app.sendTask('tasks.sleep', [600_000], {}, { queue });
    const late = await app.sendTask('tasks.block_late', [join(dir.path, `${queue}.marker`)], {}, { queue });
    await expect
      .poll(async () => [await early.state(), await late.state()], { timeout: 20_000 })
      .toEqual(['STARTED', 'STARTED']);
    w.kill('SIGQUIT');
    expect(await w.exited()).toBe(1);
    await expect(early.get({ timeout: 5 })).rejects.toMatchObject({
      excType: 'WorkerLostError',
      remoteMessage: 'Worker exited prematurely: cold shutdown',
    });
    const broker = await app.getBroker();
    expect(await broker.size(queue)).toBe(1);
    await app.close();
  });

  it('restarts itself on SIGHUP with the same arguments, taking over its pid file, as often as asked', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const pidfile = join(dir.path, `${queue}.pid`);
    const w = worker(queue, ['-P', 'threads', '-c', '1', '--pidfile', pidfile]);
    await w.waitFor(/ready\./);
    const pidIn = (): string => (existsSync(pidfile) ? readFileSync(pidfile, 'utf8') : '');
    expect(pidIn()).toBe(`${w.pid}\n`);
    const app = client();
    let previous = w.pid;
    for (const round of [2, 3]) {
      // Always to the first process: it stays the parent of the replacements (the pid a supervisor knows).
      w.kill('SIGHUP');
      await expect
        .poll(() => w.output().match(/Restarting celeriac worker/g)?.length ?? 0, { timeout: 30_000 })
        .toBe(round - 1);
      await expect.poll(() => w.output().match(/ready\./g)?.length ?? 0, { timeout: 30_000 }).toBe(round);
      await expect.poll(pidIn, { timeout: 30_000 }).toMatch(/^\d+\n$/);
      const current = Number(pidIn());
      expect(current).not.toBe(previous);
      previous = current;
      expect(await (await app.sendTask('tasks.add', [round, 40], {}, { queue })).get({ timeout: 20 })).toBe(
        40 + round,
      );
    }
    await app.close();
    process.kill(previous, 'SIGTERM');
    expect(await w.exited()).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  }, 120_000);

  it('replaces a stale pid file and refuses to start over a live one', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const pidfile = join(dir.path, `${queue}.pid`);
    writeFileSync(pidfile, `${process.pid}\n`);
    const refused = worker(queue, ['--pidfile', pidfile]);
    expect(await refused.exited()).toBe(73);
    expect(refused.output()).toContain(`Pidfile (${pidfile}) already exists.`);
    writeFileSync(pidfile, '999999\n');
    const w = worker(queue, ['--pidfile', pidfile]);
    await w.waitFor(/ready\./);
    expect(w.output()).toContain('Stale pidfile exists - Removing it.');
    expect(readFileSync(pidfile, 'utf8')).toBe(`${w.pid}\n`);
  });
});
