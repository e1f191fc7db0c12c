/**
 * The embedded default end to end, across processes: a worker process and CLI processes sharing one sqlite://
 * file; kill -9 of a worker holding acksLate tasks; malformed messages ending in a visible state.
 */
import { describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { SqliteBroker } from '../../src/brokers/sqlite/sqlite-broker.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { runCli, startCli, type RunningProcess } from '../support/processes.js';
import { SQLITE_APP, sqliteCliFiles } from '../support/cli-files.js';

const { db, env, running } = sqliteCliFiles('sqlite-cli');
const APP = SQLITE_APP;

function worker(queue: string, extraEnv: NodeJS.ProcessEnv = {}): RunningProcess {
  const proc = startCli(['-A', APP, 'worker', '-Q', queue, '-l', 'info', '-c', '4'], {
    env: { ...env, ...extraEnv },
  });
  running.push(proc);
  return proc;
}

function client(): Celery {
  const app = new Celery('client', { broker: db, backend: db });
  app.logger = silentLogger();
  return app;
}

describe('sqlite:// across processes', () => {
  it('round-trips a task between a worker process and `celeriac call --wait`', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const w = worker(queue);
    const call = await runCli(
      ['-A', APP, 'call', 'tasks.add', '--args', '[2,3]', '--queue', queue, '--wait', '--timeout', '20'],
      { env },
    );
    expect(call.stderr).not.toMatch(/Error/);
    expect(call.code).toBe(0);
    const lines = call.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('5');
    const id = lines[0]!;
    await w.waitFor(new RegExp(`Task tasks.add\\[${id}\\] succeeded in [0-9.e-]+s: 5`));
    const result = await runCli(['-A', APP, 'result', id], { env });
    expect(result.stdout.trim().split('\n')).toEqual(['SUCCESS', '5']);
  });

  it('passes kwargs from the command line and reports a remote failure with exit code 1', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    worker(queue);
    const ok = await runCli(
      ['-A', APP, 'call', 'tasks.add', '--kwargs', '{"x": 4, "y": 6}', '-Q', queue, '--wait'],
      { env },
    );
    expect(ok.stdout.trim().split('\n').at(-1)).toBe('10');
    const failed = await runCli(
      ['-A', APP, 'call', 'tasks.fail', '--args', '["kaput"]', '-Q', queue, '--wait'],
      { env },
    );
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('ValueError: kaput');
    expect(failed.stderr).not.toMatch(/\n\s+at /);
  });

  it('purges a queue', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    for (let i = 0; i < 3; i++)
      await runCli(['-A', APP, 'call', 'tasks.add', '--args', '[1,1]', '-Q', queue], { env });
    const purge = await runCli(['-A', APP, 'purge', '-Q', queue, '-f'], { env });
    expect(purge.stdout).toContain('Purged 3 messages from 1 known task queue.');
  });

  it('loses no acksLate task when its worker is killed with SIGKILL', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const first = worker(queue, { ACKS_LATE: '1' });
    const app = client();
    const results = await Promise.all(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((label) =>
        app.sendTask<string>('tasks.hold', [60_000, label], {}, { queue }),
      ),
    );
    // Four run (concurrency 4), two wait prefetched; all six are held unacknowledged by the first worker.
    await expect
      .poll(
        async () => (await Promise.all(results.map((r) => r.state()))).filter((s) => s === 'STARTED').length,
        { timeout: 20_000 },
      )
      .toBe(4);
    first.kill('SIGKILL');
    await first.exited();
    worker(queue, { ACKS_LATE: '1', FAST: '1' });
    const values = await Promise.all(results.map((r) => r.get({ timeout: 20 })));
    expect(values.map((v) => v.split(' ')[0])).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(values.every((v) => !v.endsWith(` ${first.pid}`))).toBe(true);
    await app.close();
  });

  it('leaves malformed messages in a visible state and keeps running the next valid task', async () => {
    const queue = `q-${uuid().slice(0, 8)}`;
    const w = worker(queue);
    const broker = new SqliteBroker(db, {
      logger: silentLogger(),
      transportOptions: {},
      connectionRetry: false,
      connectionMaxRetries: 0,
      connectionTimeoutMs: 1000,
    });
    await broker.connect();
    const raw = (id: string, task: string, contentType: string, body: string) =>
      broker.publish(
        {
          headers: { task, id, lang: 'py' },
          properties: { correlation_id: id },
          contentType,
          contentEncoding: 'utf-8',
          body: Buffer.from(body),
        },
        { exchange: '', routingKey: queue },
      );
    const badJson = uuid();
    const unknown = uuid();
    const pickle = uuid();
    await raw(badJson, 'tasks.add', 'application/json', '[[1, 2], {}, {');
    await raw(unknown, 'tasks.nope', 'application/json', '[[], {}, {}]');
    await raw(pickle, 'tasks.add', 'application/x-python-serialize', '\x80\x04K\x01.');
    const app = client();
    const valid = await app.sendTask<number>('tasks.add', [20, 22], {}, { queue });
    expect(await valid.get({ timeout: 20 })).toBe(42);
    const state = async (id: string) => (await app.AsyncResult(id).meta()).result as { exc_type: string };
    expect((await state(badJson)).exc_type).toBe('InvalidTaskError');
    expect((await state(unknown)).exc_type).toBe('NotRegistered');
    expect((await state(pickle)).exc_type).toBe('InvalidTaskError');
    expect(
      broker
        .deadLetters(queue)
        .map((d) => d.reason)
        .sort(),
    ).toEqual(['body-decode-error', 'content-type-not-accepted', 'unknown-task']);
    await w.waitFor(/Refusing to deserialize untrusted content of type pickle/);
    await broker.close();
    await app.close();
  });
});
