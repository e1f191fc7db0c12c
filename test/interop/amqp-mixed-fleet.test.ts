/**
 * Python Celery and Celeriac workers sharing queues on RabbitMQ: they declare the same queue (with
 * x-max-priority) in either start order without PRECONDITION_FAILED and both take work from it; and a task a
 * Celeriac worker deferred through the delay queues reaches a Python worker at its time.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { parseIso } from '../../src/protocol/time.js';
import type { RunningProcess } from '../support/processes.js';
import { createVhost, type Vhost } from '../support/rabbitmq.js';
import { startCeleriacWorker, startPythonWorker, stopProcess, type InteropEnv } from './amqp-support.js';

let vhost: Vhost;
let app: Celery;
const running: RunningProcess[] = [];

beforeAll(async () => {
  vhost = await createVhost('mixed-fleet');
  app = new Celery('mixed-producer', { broker: vhost.url, backend: 'rpc://', taskQueueMaxPriority: 10 });
  app.logger = silentLogger();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => stopProcess(p)));
});
afterAll(async () => {
  await app?.close();
  await vhost?.remove();
});

function env(queue: string): InteropEnv {
  return { broker: vhost.url, backend: 'rpc', queue };
}

const FAILED_DECLARATION = /PRECONDITION_FAILED|inequivalent arg/;

describe('a Python Celery worker and a Celeriac worker on one queue', () => {
  it.each([
    ['Python first', 'python'],
    ['Celeriac first', 'celeriac'],
  ] as const)('both start cleanly and share the work (%s)', async (_label, first) => {
    const queue = `shared-${first}`;
    const start = (which: 'python' | 'celeriac'): Promise<RunningProcess> =>
      which === 'python' ? startPythonWorker(env(queue)) : startCeleriacWorker(env(queue));
    running.push(await start(first));
    running.push(await start(first === 'python' ? 'celeriac' : 'python'));
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        app.sendTask<number>('interop.add', [i, i], {}, { queue, priority: i % 10 }),
      ),
    );
    const values = await Promise.all(results.map((r) => r.get({ timeout: 30 })));
    expect(values).toEqual(Array.from({ length: 40 }, (_, i) => 2 * i));
    for (const proc of running) expect(proc.output()).not.toMatch(FAILED_DECLARATION);
    // Both took tasks from the queue.
    for (const proc of running) await proc.waitFor(/interop\.add\[[^\]]+\] succeeded/);
  });

  it('a task a Celeriac worker deferred reaches a Python worker at its time', async () => {
    const queue = 'deferred-to-python';
    const celeriac = await startCeleriacWorker(env(queue), { INTEROP_DEFER_AFTER: '1' });
    running.push(celeriac);
    const result = await app.sendTask<{ ran: number; eta: string }>(
      'interop.when',
      [],
      {},
      { queue, countdown: 4 },
    );
    await celeriac.waitFor(new RegExp(`interop\\.when\\[${result.id}\\] deferred until`));
    await stopProcess(celeriac);
    const python = await startPythonWorker(env(queue));
    running.push(python);
    const when = await result.get({ timeout: 30 });
    expect(when.ran).toBeGreaterThanOrEqual(parseIso(when.eta)! / 1000 - 0.1);
    await python.waitFor(new RegExp(`interop\\.when\\[${result.id}\\] succeeded`));
    expect(celeriac.output()).not.toMatch(new RegExp(`interop\\.when\\[${result.id}\\] succeeded`));
  });
});
