/**
 * Remote control with Python Celery 5.2.6, written once and run on Redis and on RabbitMQ: Python's `celery inspect`,
 * `status` and `control` answered by and acting on a Celeriac worker (`celeriac worker -A control-app.ts`, prefork),
 * Celeriac's `inspect`, `status` and `control` reaching a Python worker, revokes from Python of tasks a Celeriac
 * worker holds (never run, REVOKED), a revoke that outlives the worker holding the task (kill -9, a new worker
 * starts: never runs), and terminate of a running task in the prefork and async pools.
 */
import { hostname } from 'node:os';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Celery, Worker, currentTask, type AsyncResult } from '../../src/index.js';
import { uuid } from '../../src/protocol/ids.js';
import { PYTHON } from '../support/python.js';
import { runCli, startCli, watchProcess, type RunningProcess } from '../support/processes.js';

const CONTROL_APP = fileURLToPath(new URL('./fixtures/control-app.ts', import.meta.url));

export interface InteropTarget {
  /** Broker URL for both sides. */
  readonly broker: string;
  /** Result backend URL (a Redis URL: it also records task runs). */
  readonly backend: string;
  /** The directory of the Python app (interop_app.py) for this broker. */
  readonly pythonDir: string;
  /** Extra environment for the Python side. */
  readonly pythonEnv?: NodeJS.ProcessEnv;
  /** Extra environment for the Celeriac worker processes. */
  readonly tsEnv?: NodeJS.ProcessEnv;
}

/** `celery -A interop_app worker` (solo), ready to consume. */
async function startPyWorker(target: InteropTarget, env: NodeJS.ProcessEnv, queue: string, name: string) {
  const child = spawn(
    PYTHON,
    [
      '-m',
      'celery',
      '-A',
      'interop_app',
      'worker',
      '-P',
      'solo',
      '-Q',
      queue,
      '-n',
      `${name}@%h`,
      '-l',
      'info',
      '--without-gossip',
      '--without-heartbeat',
    ],
    { cwd: target.pythonDir, env: { ...process.env, ...env, ...target.pythonEnv, PYTHONUNBUFFERED: '1' } },
  );
  const proc = watchProcess(child, 60_000);
  await proc.waitFor(/ ready\.$/);
  return proc;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `python3 -m celery -A interop_app <args>` run to completion. */
function celery(target: InteropTarget, env: NodeJS.ProcessEnv, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ['-m', 'celery', '-A', 'interop_app', ...args], {
      cwd: target.pythonDir,
      env: { ...process.env, ...env, ...target.pythonEnv },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function json<T>(run: Run): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

async function startTsWorker(
  target: InteropTarget,
  env: NodeJS.ProcessEnv,
  queue: string,
  name: string,
  pool: 'prefork' | 'async',
): Promise<RunningProcess> {
  const proc = startCli(
    ['-A', CONTROL_APP, 'worker', '-P', pool, '-c', '1', '-Q', queue, '-n', `${name}@%h`, '-l', 'info'],
    {
      env: {
        ...env,
        ...target.tsEnv,
        CELERIAC_BROKER_URL: target.broker,
        CELERIAC_RESULT_BACKEND: target.backend,
      },
    },
  );
  await proc.waitFor(/ ready\.$/, 60_000);
  return proc;
}

async function stop(proc: RunningProcess | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await proc.exited();
  clearTimeout(timer);
}

export function controlInteropSuite(name: string, setup: () => Promise<InteropTarget>): void {
  describe(`remote control with Python Celery 5.2.6 on ${name}`, () => {
    const id = uuid().slice(0, 8);
    const queue = `ctl-${id}`;
    const tsNode = `ts-ctl-${id}@${hostname()}`;
    const pyNode = `py-ctl-${id}@${hostname()}`;
    let target: InteropTarget;
    let env: NodeJS.ProcessEnv;
    let recorder: Redis;
    let app: Celery;
    let ts: RunningProcess | undefined;
    let py: RunningProcess | undefined;

    const ran = async (): Promise<string[]> => recorder.lrange('ctl-ran', 0, -1);

    beforeAll(async () => {
      target = await setup();
      env = {
        INTEROP_BROKER: target.broker,
        INTEROP_BACKEND: target.backend,
        INTEROP_QUEUE: queue,
        CONTROL_RECORDER: target.backend,
      };
      recorder = new Redis(target.backend);
      await recorder.del('ctl-ran');
      app = new Celery('control-interop', {
        broker: target.broker,
        backend: target.backend,
        taskDefaultQueue: queue,
      });
      [ts, py] = await Promise.all([
        startTsWorker(target, env, queue, `ts-ctl-${id}`, 'prefork'),
        startPyWorker(target, env, `${queue}-py`, `py-ctl-${id}`),
      ]);
    }, 120_000);

    afterAll(async () => {
      await Promise.all([stop(ts), stop(py)]);
      await app?.close();
      recorder?.disconnect();
    });

    it('answers celery inspect ping, registered, active_queues, active, scheduled, revoked, stats and status', async () => {
      const d = ['-d', tsNode, '-j', '-t', '5'];
      expect(json(await celery(target, env, ['inspect', 'ping', ...d]))).toEqual({
        [tsNode]: { ok: 'pong' },
      });
      expect(json(await celery(target, env, ['inspect', 'registered', ...d]))).toEqual({
        [tsNode]: ['ctl.mark', 'ctl.nap', 'interop.add'],
      });
      const queues = json<Record<string, { name: string; routing_key: string }[]>>(
        await celery(target, env, ['inspect', 'active_queues', ...d]),
      );
      expect(queues[tsNode]).toEqual([expect.objectContaining({ name: queue, routing_key: queue })]);
      expect(json(await celery(target, env, ['inspect', 'active', ...d]))).toEqual({ [tsNode]: [] });
      expect(json(await celery(target, env, ['inspect', 'scheduled', ...d]))).toEqual({ [tsNode]: [] });
      expect(json(await celery(target, env, ['inspect', 'revoked', ...d]))).toEqual({ [tsNode]: [] });
      const stats = json<Record<string, Record<string, unknown>>>(
        await celery(target, env, ['inspect', 'stats', ...d]),
      );
      expect(stats[tsNode]).toMatchObject({ pool: { 'max-concurrency': 1 }, prefetch_count: 4 });
      expect(stats[tsNode]).toHaveProperty('rusage.utime');
      const status = await celery(target, env, ['status', '-t', '5']);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`->  ${tsNode}: OK`);
      expect(status.stdout).toContain(`->  ${pyNode}: OK`);
      expect(status.stdout).toContain('2 nodes online.');
    }, 120_000);

    it('acts on celery control rate_limit and pool_grow', async () => {
      const d = ['-d', tsNode, '-j', '-t', '5'];
      expect(json(await celery(target, env, ['control', 'rate_limit', 'ctl.mark', '100/m', ...d]))).toEqual([
        { [tsNode]: { ok: 'new rate limit set successfully' } },
      ]);
      expect(json(await celery(target, env, ['inspect', 'registered', ...d]))).toEqual({
        [tsNode]: ['ctl.mark [rate_limit=100/m]', 'ctl.nap', 'interop.add'],
      });
      expect(json(await celery(target, env, ['control', 'pool_grow', '1', ...d]))).toEqual([
        { [tsNode]: { ok: 'pool will grow' } },
      ]);
      await expect
        .poll(
          async () => {
            const stats = json<Record<string, { pool: { 'max-concurrency': number } }>>(
              await celery(target, env, ['inspect', 'stats', ...d]),
            );
            return stats[tsNode]?.pool['max-concurrency'];
          },
          { timeout: 30_000, interval: 500 },
        )
        .toBe(2);
    }, 120_000);

    it('reaches a Python worker with celeriac inspect ping, status and control rate_limit', async () => {
      const cli = (args: string[]) => runCli(['-b', target.broker, ...args], { env });
      const ping = await cli(['inspect', 'ping', '-d', pyNode, '-t', '5']);
      expect(ping.code).toBe(0);
      expect(ping.stdout).toBe(`->  ${pyNode}: OK\n        pong\n\n1 node online.\n`);
      const status = await cli(['status', '-t', '5', '-j']);
      expect(JSON.parse(status.stdout.split('\n')[0]!)).toMatchObject({
        [pyNode]: { ok: 'pong' },
        [tsNode]: { ok: 'pong' },
      });
      const rate = await cli(['control', 'rate_limit', 'interop.add', '7/s', '-d', pyNode, '-j', '-t', '5']);
      expect(JSON.parse(rate.stdout)).toEqual([{ [pyNode]: { ok: 'new rate limit set successfully' } }]);
      const registered = await cli(['inspect', 'registered', '-d', pyNode, '-j', '-t', '5']);
      expect(JSON.parse(registered.stdout)[pyNode]).toContain('interop.add [rate_limit=7/s]');
      const nobody = await cli(['inspect', 'ping', '-d', 'nobody@nowhere', '-t', '0.5']);
      expect(nobody.code).toBe(69);
      expect(nobody.stderr).toBe('Error: No nodes replied within time constraint\n');
    }, 120_000);

    it('a countdown task revoked from Python never runs and is REVOKED', async () => {
      const label = `revoked-${uuid()}`;
      // Far enough ahead for a loaded machine (the worker discards a revoked ETA task at once, not at its ETA), and
      // below RabbitMQ's etaDeferAfter (30 s), so that the worker holds it rather than deferring it to the broker.
      const result: AsyncResult = await app.sendTask('ctl.mark', [label], {}, { countdown: 25 });
      await expect
        .poll(
          async () =>
            (await app.control.inspect({ destination: [tsNode], timeout: 2 }).scheduled())[tsNode]?.[0]
              ?.request.id,
          {
            timeout: 20_000,
          },
        )
        .toBe(result.id);
      const revoke = await celery(target, env, [
        'control',
        'revoke',
        result.id,
        '-d',
        tsNode,
        '-j',
        '-t',
        '5',
      ]);
      expect(json(revoke)).toEqual([{ [tsNode]: { ok: `tasks ${result.id} flagged as revoked` } }]);
      await expect.poll(() => result.state(), { timeout: 20_000, interval: 250 }).toBe('REVOKED');
      expect(await ran()).not.toContain(label);
      expect(
        json(await celery(target, env, ['inspect', 'scheduled', '-d', tsNode, '-j', '-t', '5'])),
      ).toEqual({
        [tsNode]: [],
      });
      expect(json(await celery(target, env, ['inspect', 'revoked', '-d', tsNode, '-j', '-t', '5']))).toEqual({
        [tsNode]: [result.id],
      });
    }, 120_000);

    it('terminates a running task in the prefork pool: REVOKED, and the pool goes on', async () => {
      const result: AsyncResult = await app.sendTask('ctl.nap', [120]);
      await expect
        .poll(
          async () =>
            (await app.control.inspect({ destination: [tsNode], timeout: 2 }).active())[tsNode]?.length,
          {
            timeout: 30_000,
          },
        )
        .toBe(1);
      const terminate = await celery(target, env, [
        'control',
        'terminate',
        'SIGKILL',
        result.id,
        '-d',
        tsNode,
        '-j',
        '-t',
        '5',
      ]);
      expect(json(terminate)).toEqual([{ [tsNode]: { ok: `terminate: ${result.id}` } }]);
      await expect.poll(() => result.state(), { timeout: 30_000, interval: 250 }).toBe('REVOKED');
      const next = await app.sendTask('interop.add', [2, 3]);
      expect(await next.get({ timeout: 60 })).toBe(5);
    }, 120_000);

    it('a revoke outlives the worker holding the task: kill -9, a new worker starts, the task never runs', async () => {
      const label = `outlived-${uuid()}`;
      // Far enough ahead to cover the scheduled poll (2 s inspect round trips), the SIGSTOP and the revoke on a
      // loaded machine, and below RabbitMQ's etaDeferAfter (30 s); the new worker discards it at once, not at its ETA.
      const result: AsyncResult = await app.sendTask('ctl.mark', [label], {}, { countdown: 25 });
      await expect
        .poll(
          async () =>
            (await app.control.inspect({ destination: [tsNode], timeout: 2 }).scheduled())[tsNode]?.length,
          {
            timeout: 20_000,
          },
        )
        .toBe(1);
      // The holding worker is stopped (SIGSTOP) when the revoke goes out: only the Python worker records it, and
      // the Celeriac worker dies without ever hearing of it.
      ts!.kill('SIGSTOP');
      await result.revoke();
      await expect
        .poll(
          async () => (await app.control.inspect({ destination: [pyNode], timeout: 2 }).revoked())[pyNode],
          {
            timeout: 20_000,
          },
        )
        .toContain(result.id);
      ts!.kill('SIGKILL');
      await ts!.exited();
      ts = await startTsWorker(target, env, queue, `ts-ctl2-${id}`, 'prefork');
      await expect.poll(() => result.state(), { timeout: 90_000, interval: 500 }).toBe('REVOKED');
      expect(await ran()).not.toContain(label);
      // Its waits add up to 190 s at worst.
    }, 300_000);

    it('celery control shutdown stops the Celeriac worker', async () => {
      const node = (await app.control.ping({ timeout: 2 }))
        .map((r) => Object.keys(r)[0]!)
        .find((n) => n.startsWith('ts-'));
      expect(node).toBeDefined();
      const run = await celery(target, env, ['control', 'shutdown', '-d', node!, '-j', '-t', '5']);
      expect(json(run)).toEqual([{ [node!]: { ok: 'shutting down' } }]);
      expect(await ts!.exited()).toBe(0);
    }, 120_000);
  });

  describe(`terminate in the async pool on ${name}`, () => {
    it('ends a running task, stores REVOKED, and keeps serving', async () => {
      const target = await setup();
      const queue = `ctl-async-${uuid().slice(0, 8)}`;
      const app = new Celery('control-async', {
        broker: target.broker,
        backend: target.backend,
        taskDefaultQueue: queue,
      });
      let aborted = false;
      const nap = app.task('ctl.nap', async (seconds: number) => {
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        return seconds;
      });
      app.task('ctl.watch', async () => {
        const signal = currentTask().signal;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
        aborted = true;
      });
      const worker = new Worker(app, {
        pool: 'async',
        hostname: `ts-async-${queue}@%h`,
        queues: [queue],
        mingle: false,
      });
      await worker.start();
      try {
        const watched = await app.sendTask('ctl.watch');
        await expect
          .poll(async () => Object.values(await app.control.inspect({ timeout: 2 }).active())[0]?.length, {
            timeout: 20_000,
          })
          .toBe(1);
        const replies = await celery(target, { INTEROP_BROKER: target.broker, INTEROP_QUEUE: queue }, [
          'control',
          'terminate',
          'SIGTERM',
          watched.id,
          '-d',
          worker.hostname,
          '-j',
          '-t',
          '5',
        ]);
        expect(json(replies)).toEqual([{ [worker.hostname]: { ok: `terminate: ${watched.id}` } }]);
        await expect.poll(() => watched.state(), { timeout: 20_000 }).toBe('REVOKED');
        expect(aborted).toBe(true);
        expect(await (await nap.delay(0)).get({ timeout: 20 })).toBe(0);
      } finally {
        await worker.stop();
        await app.close();
      }
    }, 120_000);
  });
}
