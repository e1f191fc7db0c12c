/**
 * The AMQP interop cases, written once and run per result backend (rpc:// and redis://, one file each):
 * args, kwargs, countdown (held, and deferred through the delay queues), expires, priority, failure and
 * ignore_result, both ways: Python Celery 5.2.6 producing for a Celeriac worker, and Celeriac producing for a
 * Python Celery worker. Each file runs in a vhost of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, RemoteTaskError } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { parseIso } from '../../src/protocol/time.js';
import { createVhost, type Vhost } from '../support/rabbitmq.js';
import type { RunningProcess } from '../support/processes.js';
import {
  backendUrl,
  PythonClient,
  startCeleriacWorker,
  startPythonWorker,
  stopProcess,
  type InteropBackend,
  type InteropEnv,
} from './amqp-support.js';

interface When {
  ran: number;
  eta: string | null;
  expires: string | null;
}

function seconds(iso: string | null): number {
  expect(iso).not.toBeNull();
  return parseIso(iso!)! / 1000;
}

function count(output: string, pattern: RegExp): number {
  return output.split('\n').filter((line) => pattern.test(line)).length;
}

export function pythonProducerSuite(backend: InteropBackend): void {
  describe(`Python Celery producer -> Celeriac worker over RabbitMQ, ${backend}:// results`, () => {
    let vhost: Vhost;
    let worker: RunningProcess;
    let deferring: RunningProcess;
    let client: PythonClient;

    beforeAll(async () => {
      vhost = await createVhost(`py-producer-${backend}`);
      const env: InteropEnv = { broker: vhost.url, backend, queue: 'interop' };
      [worker, deferring] = await Promise.all([
        startCeleriacWorker(env),
        // A worker that hands ETA tasks due in more than a second to the delay queues.
        startCeleriacWorker({ ...env, queue: 'interop-defer' }, { INTEROP_DEFER_AFTER: '1' }),
      ]);
      client = new PythonClient(env);
    });

    afterAll(async () => {
      await client?.close();
      await Promise.all([worker, deferring].filter(Boolean).map((w) => stopProcess(w)));
      await vhost?.remove();
    });

    it('runs a task with positional arguments', async () => {
      const id = await client.send('interop.add', [2, 3]);
      expect(await client.get(id)).toMatchObject({ status: 'SUCCESS', result: 5 });
    });

    it('binds keyword arguments to parameters and passes the others through', async () => {
      const add = await client.send('interop.add', [], { x: 4, y: 6 });
      const echo = await client.send('interop.echo', [1, 'two'], { x: 3, y: [4, null] });
      expect(await client.get(add)).toMatchObject({ status: 'SUCCESS', result: 10 });
      expect(await client.get(echo)).toMatchObject({ result: [[1, 'two'], { x: 3, y: [4, null] }] });
    });

    it('runs a countdown task once, not before its ETA', async () => {
      const id = await client.send('interop.when', [], {}, { countdown: 2 });
      const { result } = await client.get(id);
      const when = result as When;
      expect(when.ran).toBeGreaterThanOrEqual(seconds(when.eta));
      // The result can overtake the worker's log line; wait for the line, then check it is the only run.
      await worker.waitFor(new RegExp(`interop\\.when\\[${id}\\] succeeded`));
      expect(count(worker.output(), new RegExp(`interop\\.when\\[${id}\\] succeeded`))).toBe(1);
    });

    it('runs a countdown task deferred through the delay queues once, at its time', async () => {
      const id = await client.send('interop.when', [], {}, { countdown: 3, queue: 'interop-defer' });
      const { result } = await client.get(id);
      const when = result as When;
      expect(when.ran).toBeGreaterThanOrEqual(seconds(when.eta));
      await deferring.waitFor(new RegExp(`interop\\.when\\[${id}\\] succeeded`));
      const output = deferring.output();
      expect(count(output, new RegExp(`interop\\.when\\[${id}\\] deferred until`))).toBe(1);
      expect(count(output, new RegExp(`interop\\.when\\[${id}\\] succeeded`))).toBe(1);
    });

    it('runs a task before it expires and records REVOKED for one that expired', async () => {
      const live = await client.send('interop.when', [], {}, { expires: 60 });
      const { result } = await client.get(live);
      expect((result as When).expires).not.toBeNull();
      // Due after it expires: received in time, held for its ETA, then discarded as expired.
      const late = await client.send('interop.when', [], {}, { countdown: 2, expires: 1 });
      expect(await client.get(late)).toMatchObject({ status: 'REVOKED', exc_type: 'TaskRevokedError' });
    });

    it('delivers the message priority', async () => {
      const id = await client.send('interop.priority', [], {}, { priority: 7 });
      expect(await client.get(id)).toMatchObject({ status: 'SUCCESS', result: 7 });
    });

    it('reports a failure with its Python exception type, message and traceback', async () => {
      const id = await client.send('interop.fail', ['kaput']);
      const got = await client.get(id);
      expect(got).toMatchObject({ status: 'FAILURE', exc_type: 'ValueError', exc_message: 'kaput' });
      expect(got.traceback).toContain('kaput');
    });

    it('stores nothing for a task sent with ignore_result', async () => {
      const id = await client.send('interop.note', ['quiet'], {}, { ignore_result: true });
      await worker.waitFor(new RegExp(`interop\\.note\\[${id}\\] succeeded`));
      expect(await client.state(id)).toBe('PENDING');
    });
  });
}

export function pythonWorkerSuite(backend: InteropBackend): void {
  describe(`Celeriac producer -> Python Celery worker over RabbitMQ, ${backend}:// results`, () => {
    let vhost: Vhost;
    let worker: RunningProcess;
    let app: Celery;

    beforeAll(async () => {
      vhost = await createVhost(`py-worker-${backend}`);
      worker = await startPythonWorker({ broker: vhost.url, backend, queue: 'interop' });
      app = new Celery('interop-producer', {
        broker: vhost.url,
        backend: backendUrl(backend),
        taskDefaultQueue: 'interop',
        taskQueueMaxPriority: 10,
      });
      app.logger = silentLogger();
    });

    afterAll(async () => {
      await app?.close();
      if (worker) await stopProcess(worker);
      await vhost?.remove();
    });

    it('runs a task with positional arguments', async () => {
      const result = await app.sendTask<number>('interop.add', [2, 3]);
      expect(await result.get({ timeout: 30 })).toBe(5);
    });

    it('passes keyword arguments', async () => {
      const add = await app.sendTask<number>('interop.add', [], { x: 4, y: 6 });
      const echo = await app.sendTask('interop.echo', [1, 'two'], { x: 3, y: [4, null] });
      expect(await add.get({ timeout: 30 })).toBe(10);
      expect(await echo.get({ timeout: 30 })).toEqual([[1, 'two'], { x: 3, y: [4, null] }]);
    });

    it('sends countdown as an ETA the Python worker honours', async () => {
      const result = await app.sendTask<When>('interop.when', [], {}, { countdown: 2 });
      const when = await result.get({ timeout: 30 });
      // Celery's timer may fire a few milliseconds early; it never runs the task a whole tick before.
      expect(when.ran).toBeGreaterThanOrEqual(seconds(when.eta) - 0.1);
    });

    it('sends expires: the task runs before, and is REVOKED after', async () => {
      const live = await app.sendTask<When>('interop.when', [], {}, { expires: 60 });
      expect((await live.get({ timeout: 30 })).expires).not.toBeNull();
      const late = await app.sendTask('interop.when', [], {}, { countdown: 2, expires: 1 });
      const error = await late.get({ timeout: 30, propagate: false });
      expect(error).toBeInstanceOf(RemoteTaskError);
      expect((error as RemoteTaskError).excType).toBe('TaskRevokedError');
      expect(await late.state()).toBe('REVOKED');
    });

    it('sends the priority in the message properties', async () => {
      const result = await app.sendTask<number>('interop.priority', [], {}, { priority: 7 });
      expect(await result.get({ timeout: 30 })).toBe(7);
    });

    it('reads a Python failure back as a RemoteTaskError', async () => {
      const result = await app.sendTask('interop.fail', ['kaput']);
      const error = await result.get({ timeout: 30, propagate: false });
      expect(error).toBeInstanceOf(RemoteTaskError);
      expect(error).toMatchObject({ excType: 'ValueError', remoteMessage: 'kaput' });
      expect((error as RemoteTaskError).remoteTraceback).toContain('ValueError: kaput');
    });

    it('leaves no result for a task sent with ignoreResult', async () => {
      const result = await app.sendTask('interop.note', ['quiet'], {}, { ignoreResult: true });
      await worker.waitFor(new RegExp(`interop\\.note\\[${result.id}\\] succeeded`));
      expect(await app.AsyncResult(result.id).state()).toBe('PENDING');
    });
  });
}
