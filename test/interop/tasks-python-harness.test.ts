/**
 * Checks the Python side of the task interop tests against a real Python Celery 5.2.6 worker on Redis: the
 * producer and readers in test/interop/python-tasks/ see retries, PROGRESS, expiry and failures as Python does.
 * tasks-redis.test.ts then puts a Celeriac worker where this Python worker is.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { uuid } from '../../src/protocol/ids.js';
import { client, startPythonWorker, type PythonView, type PythonWorker } from './python-tasks/runner.js';

const queue = `py-tasks-${uuid().slice(0, 8)}`;
let worker: PythonWorker;

beforeAll(async () => {
  worker = await startPythonWorker(queue);
});
afterAll(async () => {
  await worker?.stop();
  await client('cleanup', queue);
});

async function send(name: string, args: unknown[], ...flags: string[]): Promise<string> {
  return (await client<{ id: string }>('send', name, JSON.stringify(args), '--queue', queue, ...flags)).id;
}

it('a Python task retried twice ends SUCCESS with retries == 2', async () => {
  const id = await send('interop.retry_twice', ['v']);
  expect(await client<PythonView>('wait', id, '30')).toMatchObject({
    state: 'SUCCESS',
    retries: 2,
    result: { value: 'v', retries: 2 },
  });
});

it('reads PROGRESS meta while the task runs', async () => {
  const id = await send('interop.progress', [2]);
  expect(await client('progress', id, '30')).toEqual({
    state: 'PROGRESS',
    info: { current: 1, total: 2 },
    ready: false,
  });
  await client('open-gate', id);
  expect(await client<PythonView>('wait', id, '30')).toMatchObject({ state: 'SUCCESS', result: 2 });
});

it('sees an expired task as REVOKED', async () => {
  const id = await send('interop.add', [1, 2], '--expired');
  expect(await client<PythonView>('wait', id, '30')).toMatchObject({
    state: 'REVOKED',
    exception: { type: 'TaskRevokedError', args: ["'expired'"] },
  });
});

it('sees a failure as the original exception with its traceback', async () => {
  const id = await send('interop.fail', ['boom']);
  expect(await client<PythonView>('wait', id, '30')).toMatchObject({
    state: 'FAILURE',
    has_traceback: true,
    exception: { type: 'ValueError', module: 'builtins', args: ["'boom'"] },
  });
});
