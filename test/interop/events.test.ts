/**
 * Task events from a Celeriac worker reach Python Celery 5.2.6's `celery events --dump`: on Redis through kombu's
 * fanout (PUBLISH on `/<db>.celeryev/<routing key>`), on RabbitMQ through the `celeryev` topic exchange. With no
 * monitor running (one killed, its binding left behind in `_kombu.binding.celeryev` as Python leaves it), nothing
 * accumulates in Redis and the worker logs nothing about events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app/celery.js';
import { createLogger } from '../../src/lifecycle/logger.js';
import { Worker } from '../../src/worker/worker.js';
import { uuid } from '../../src/protocol/ids.js';
import { startProcess, stopProcess } from './amqp-support.js';
import { PYTHON, PYTHON_DIR } from '../support/python.js';
import { createVhost, rabbitmqctl, type Vhost } from '../support/rabbitmq.js';
import { PrivateRedis } from '../support/redis.js';
import type { RunningProcess } from '../support/processes.js';
import { fileURLToPath } from 'node:url';

const PYTHON_AMQP_DIR = fileURLToPath(new URL('./python-amqp/', import.meta.url));

interface LogLine {
  level: number;
  msg: string;
}

/** A Celeriac app and solo worker with task events on; its log lines are kept. */
async function eventfulWorker(broker: string, backend: string, queue: string) {
  const lines: LogLine[] = [];
  const logger = createLogger({
    level: 'debug',
    format: 'json',
    destination: { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  });
  const app = new Celery('events-interop', {
    broker,
    backend,
    taskDefaultQueue: queue,
    workerSendTaskEvents: true,
  });
  app.logger = logger;
  const add = app.task('interop.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
  const worker = new Worker(app, {
    queues: [queue],
    pool: 'solo',
    hostname: `ts-events-${queue}@%h`,
    logger,
  });
  await worker.start();
  return {
    add,
    lines,
    hostname: worker.hostname,
    stop: async () => {
      await worker.stop();
      await app.close();
    },
  };
}

/** `celery -A interop_app events --dump` (Python Celery 5.2.6). */
function pythonDump(cwd: string, env: NodeJS.ProcessEnv): RunningProcess {
  return startProcess(PYTHON, ['-m', 'celery', '-A', 'interop_app', 'events', '--dump'], {
    cwd,
    env: { ...env, PYTHONUNBUFFERED: '1' },
  });
}

/** Waits for the three events of task `id` in the dump's output, in order. */
async function seesTask(dump: RunningProcess, hostname: string, id: string): Promise<void> {
  for (const what of ['received', 'started', 'succeeded']) {
    const line = await dump.waitFor(new RegExp(`task ${what}: interop\\.add\\(${id}\\)`), 20_000);
    expect(line.startsWith(hostname)).toBe(true);
  }
}

describe('task events on Redis reach celery events --dump', () => {
  // A server of its own: Python subscribes to fanout channels without the key prefix (kombu 5.2), so channels
  // are shared by everything on a server, and this file must not see (or disturb) other files' events.
  let server: PrivateRedis;
  let client: Redis;
  const queue = `events-${uuid().slice(0, 8)}`;

  beforeAll(async () => {
    server = await PrivateRedis.start();
    client = new Redis(server.url);
  });
  afterAll(async () => {
    client.disconnect();
    await server.stop();
  });

  it('shows task-received, task-started and task-succeeded of a Celeriac worker', async () => {
    const worker = await eventfulWorker(server.url, server.url, queue);
    const dump = pythonDump(PYTHON_DIR, { INTEROP_BROKER: server.url, INTEROP_QUEUE: queue });
    try {
      await dump.waitFor(/starting capture/);
      // Listening once kombu has PSUBSCRIBEd `/0.celeryev/*`.
      await expect.poll(() => client.pubsub('NUMPAT'), { timeout: 20_000 }).toBeGreaterThan(0);
      const result = await worker.add.delay(2, 3);
      expect(await result.get({ timeout: 10 })).toBe(5);
      await seesTask(dump, worker.hostname, result.id);
    } finally {
      await stopProcess(dump);
      await worker.stop();
    }
  });

  it('leaves nothing behind and logs nothing per task when no monitor runs', async () => {
    // The dump above was stopped by a signal: like any killed Python receiver, it left its binding behind.
    const bindings = await client.smembers('_kombu.binding.celeryev');
    expect(bindings.some((m) => m.startsWith('#\x06\x16\x06\x16celeryev.'))).toBe(true);
    const worker = await eventfulWorker(server.url, server.url, queue);
    try {
      const before = new Set(await client.keys('*'));
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const result = await worker.add.delay(i, i);
        await result.get({ timeout: 10 });
        ids.push(result.id);
      }
      const added = (await client.keys('*')).filter((k) => !before.has(k));
      // Only the results: no list of a dead receiver, no other key.
      expect(added.sort()).toEqual(ids.map((id) => `celery-task-meta-${id}`).sort());
      expect(await client.keys('celeryev*')).toEqual([]);
      expect(worker.lines.filter((l) => l.level >= 40)).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});

describe('task events on RabbitMQ reach celery events --dump', () => {
  let vhost: Vhost;
  const queue = `events-${uuid().slice(0, 8)}`;
  const backend = 'redis://127.0.0.1:6379/11';

  beforeAll(async () => {
    vhost = await createVhost('events');
  });
  afterAll(async () => {
    await vhost.remove();
  });

  /** Queues of the vhost whose name starts with `celeryev.`, with their message counts. */
  async function eventQueues(): Promise<string[]> {
    const out = await rabbitmqctl(['list_queues', '-p', vhost.name, '--no-table-headers', 'name']);
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter((name) => name.startsWith('celeryev.'));
  }

  it('shows task-received, task-started and task-succeeded of a Celeriac worker', async () => {
    const worker = await eventfulWorker(vhost.url, backend, queue);
    const dump = pythonDump(PYTHON_AMQP_DIR, { INTEROP_BROKER: vhost.url, INTEROP_QUEUE: queue });
    try {
      await dump.waitFor(/starting capture/);
      await expect.poll(eventQueues, { timeout: 30_000, interval: 500 }).toHaveLength(1);
      const result = await worker.add.delay(2, 3);
      expect(await result.get({ timeout: 10 })).toBe(5);
      await seesTask(dump, worker.hostname, result.id);
    } finally {
      await stopProcess(dump);
      await worker.stop();
    }
  });

  it('keeps nothing and logs nothing per task when no monitor runs', async () => {
    // The monitor's queue auto-deletes with its connection: events are routed nowhere, and dropped.
    await expect.poll(eventQueues, { timeout: 30_000, interval: 500 }).toEqual([]);
    const worker = await eventfulWorker(vhost.url, backend, queue);
    try {
      for (let i = 0; i < 5; i++) await (await worker.add.delay(i, i)).get({ timeout: 10 });
      expect(await eventQueues()).toEqual([]);
      expect(worker.lines.filter((l) => l.level >= 40)).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});
