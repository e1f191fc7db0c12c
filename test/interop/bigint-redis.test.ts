/**
 * Integers beyond 2^53 across languages on Redis (issue 19, protocol fidelity): Python Celery 5.2.6 sends a Python
 * int a double cannot hold, a Celeriac task sees it exactly (as a BigInt) and returns it changed, and Python reads
 * the exact result.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { knownBrokerSchemes } from '../../src/brokers/registry.js';
import { uuid } from '../../src/protocol/ids.js';
import { startTestWorker, type TestWorker, silentLogger } from '../../src/testing/index.js';
import { client, HARNESS_DIR, INTEROP_REDIS, PYTHON } from './python-tasks/runner.js';

const redisRegistered = knownBrokerSchemes().includes('redis');

/** Python's repr of the task's result, read by Python Celery's own AsyncResult.get(). */
function pythonResultRepr(id: string): Promise<string> {
  const script = [
    'import sys',
    'from celery.result import AsyncResult',
    'from tasks_app import app',
    'print(repr(AsyncResult(sys.argv[1], app=app).get(timeout=60, propagate=False, interval=0.05)))',
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', script, id], {
      cwd: HARNESS_DIR,
      env: { ...process.env, CELERIAC_INTEROP_REDIS: INTEROP_REDIS },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out.trim().split('\n').at(-1) ?? '') : reject(new Error(`${out}\n${err}`)),
    );
  });
}

describe.skipIf(!redisRegistered)('integers beyond 2^53 with Python Celery on Redis', () => {
  const queue = `bigint-redis-${uuid().slice(0, 8)}`;
  const seen: string[][] = [];
  let app: Celery;
  let worker: TestWorker;

  beforeAll(async () => {
    app = new Celery('interop', { broker: INTEROP_REDIS, backend: INTEROP_REDIS });
    app.logger = silentLogger();
    app.task('interop.big_echo', (a: bigint, b: bigint) => {
      seen.push([typeof a, String(a), typeof b, String(b)]);
      return { same: [a, b], next: [a + 1n, b - 1n] };
    });
    worker = await startTestWorker(app, { queues: [queue] });
  });
  afterAll(async () => {
    await worker?.stop();
    await app?.close();
    await client('cleanup', queue);
  });

  it('Python int 9007199254740993 (and its negative) reaches a Celeriac task exactly and comes back exactly', async () => {
    const { id } = await client<{ id: string }>(
      'send',
      'interop.big_echo',
      '[9007199254740993, -9007199254740993]',
      '--queue',
      queue,
    );
    expect(await pythonResultRepr(id)).toBe(
      "{'same': [9007199254740993, -9007199254740993], 'next': [9007199254740994, -9007199254740994]}",
    );
    expect(seen).toContainEqual(['bigint', '9007199254740993', 'bigint', '-9007199254740993']);
  });
});
