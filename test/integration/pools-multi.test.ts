/** `celeriac multi`: two detached workers with pid and log files, started and stopped by name. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { isAlive } from '../../src/lifecycle/pidfile.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { runCli } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('pools-multi');
const db = `sqlite://${join(dir.path, 'celeriac.db')}`;
const env = { CELERIAC_BROKER_URL: db, CELERIAC_RESULT_BACKEND: db };
const APP = 'test/integration/fixtures/pool-app.ts';
const started: number[] = [];

afterAll(() => {
  for (const pid of started) {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  dir.remove();
});

function read(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

describe('celeriac multi', () => {
  it('starts two detached workers with pid and log files, then stops them and waits', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const files = [`--pidfile=${dir.path}/%n.pid`, `--logfile=${dir.path}/%n%I.log`];
    const start = await runCli(
      [
        'multi',
        'start',
        'w1',
        'w2',
        '-A',
        APP,
        '-P',
        'prefork',
        '-c',
        '1',
        '-l',
        'info',
        '-Q',
        queue,
        ...files,
      ],
      { env },
    );
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/> Starting nodes\.\.\.\n\t> w1@\S+: OK\n\t> w2@\S+: OK/);
    const pids = ['w1', 'w2'].map((name) => Number(read(join(dir.path, `${name}.pid`))));
    started.push(...pids);
    expect(pids.every((pid) => pid > 0 && isAlive(pid))).toBe(true);
    for (const name of ['w1', 'w2']) {
      await expect
        .poll(() => read(join(dir.path, `${name}.log`)), { timeout: 30_000 })
        .toMatch(new RegExp(`${name}@\\S+ ready\\.`));
    }
    const app = new Celery('client', { broker: db, backend: db });
    app.logger = silentLogger();
    expect(await (await app.sendTask('tasks.add', [1, 2], {}, { queue })).get({ timeout: 20 })).toBe(3);
    await app.close();

    const names = await runCli(['multi', 'names', 'w1', 'w2'], { env });
    expect(
      names.stdout
        .trim()
        .split('\n')
        .map((n) => n.split('@')[0]),
    ).toEqual(['w1', 'w2']);

    const stop = await runCli(['multi', 'stopwait', 'w1', 'w2', ...files], { env });
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(new RegExp(`\\t> w1@\\S+: TERM -> ${pids[0]}`));
    expect(stop.stdout).toMatch(/\t> w1@\S+: OK/);
    expect(stop.stdout).toMatch(/\t> w2@\S+: OK/);
    expect(pids.some((pid) => isAlive(pid))).toBe(false);
    expect(existsSync(join(dir.path, 'w1.pid'))).toBe(false);
    expect(existsSync(join(dir.path, 'w2.pid'))).toBe(false);
    expect(read(join(dir.path, 'w1.log'))).toMatch(/Warm shutdown \(w1@/);

    const again = await runCli(['multi', 'stop', 'w1', ...files], { env });
    expect(again.stdout).toMatch(/> w1@\S+: DOWN/);
  });
});
