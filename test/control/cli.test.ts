/**
 * `celeriac inspect`, `control` and `status` through the real CLI (run from source), against a Celeriac worker on
 * a SQLite broker shared by the two processes: Celery's output format, JSON output, argument conversion, errors on
 * stderr and exit code 69 when no node replied.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, Worker } from '../../src/index.js';
import { runCli } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

describe('celeriac inspect, control and status', () => {
  const dir = tempDir('control-cli');
  const broker = `sqlite://${join(dir.path, 'broker.db')}`;
  const app = new Celery('control-cli', { broker, backend: 'memory://' });
  app.task('cli.add', (x: number, y: number) => x + y);
  let worker: Worker;
  const cli = (...args: string[]) => runCli(['-b', broker, ...args]);

  beforeAll(async () => {
    worker = new Worker(app, { hostname: 'cli1@test', pool: 'async', mingle: false });
    await worker.start();
  });
  afterAll(async () => {
    await worker?.stop();
    dir.remove();
  });

  it('status and inspect ping print the replies as Celery does', async () => {
    const status = await cli('status', '-t', '3');
    expect(status).toMatchObject({ code: 0, stdout: '->  cli1@test: OK\n\n1 node online.\n' });
    const ping = await cli('inspect', 'ping', '-t', '3');
    expect(ping).toMatchObject({ code: 0, stdout: '->  cli1@test: OK\n        pong\n\n1 node online.\n' });
    const registered = await cli('inspect', 'registered', '-d', 'cli1@test', '-t', '3');
    expect(registered.stdout).toBe('->  cli1@test: OK\n    * cli.add\n\n1 node online.\n');
    const revoked = await cli('inspect', 'revoked', '-d', 'cli1@test', '-t', '3');
    expect(revoked.stdout).toBe('->  cli1@test: OK\n    - empty -\n\n1 node online.\n');
  });

  it('prints JSON with -j and converts positional arguments', async () => {
    const stats = await cli('inspect', 'stats', '-j', '-d', 'cli1@test', '-t', '3');
    expect(JSON.parse(stats.stdout)['cli1@test']).toMatchObject({ pid: process.pid, total: {} });
    const limit = await cli(
      'control',
      'time_limit',
      'cli.add',
      '10',
      '20',
      '-j',
      '-d',
      'cli1@test',
      '-t',
      '3',
    );
    expect(JSON.parse(limit.stdout)).toEqual([{ 'cli1@test': { ok: 'time limits set successfully' } }]);
    expect(worker.workerState!.task('cli.add')!.settings).toMatchObject({ softTimeLimit: 10, timeLimit: 20 });
    const revoke = await cli('control', 'revoke', 'a', 'b', '-d', 'cli1@test', '-t', '3');
    expect(revoke.stdout).toBe(
      '->  cli1@test: OK\n        tasks a, b flagged as revoked\n\n1 node online.\n',
    );
    const unknown = await cli('control', 'rate_limit', 'nope', '1/s', '-d', 'cli1@test', '-t', '3');
    expect(unknown.stdout).toBe('->  cli1@test: ERROR\n        unknown task\n\n1 node online.\n');
  });

  it('fails with exit 69 when no node replied, and with usage errors for bad commands', async () => {
    const none = await cli('inspect', 'ping', '-d', 'nobody@nowhere', '-t', '0.5');
    expect(none).toMatchObject({
      code: 69,
      stdout: '',
      stderr: 'Error: No nodes replied within time constraint\n',
    });
    const bogus = await cli('control', 'bogus');
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(
      /^Error: Unknown control command "bogus": one of revoke, terminate, rate_limit/,
    );
    const badArg = await cli('control', 'pool_grow', 'two');
    expect(badArg).toMatchObject({ code: 2, stderr: 'Error: pool_grow: n must be an integer, got two\n' });
    const badTimeout = await cli('status', '-t', '0');
    expect(badTimeout.code).toBe(2);
  });
});
