/**
 * A Celeriac worker's events reach Python Celery 5.2.6's `celery events --dump` (worker-online, task events sent
 * as `task.multi` batches, heartbeats, worker-offline): on Redis through kombu's fanout (PUBLISH on
 * `/<db>.celeryev/<routing key>`), on RabbitMQ through the `celeryev` topic exchange. With no monitor running (one
 * killed, its binding left behind in `_kombu.binding.celeryev` as Python leaves it), nothing accumulates in Redis
 * and the worker logs nothing about events. The other way, Celeriac's receiver sees a Python worker's events; and
 * after a Redis restart the event stream comes back by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app/celery.js';
import { createLogger } from '../../src/lifecycle/logger.js';
import { Worker } from '../../src/worker/worker.js';
import { uuid } from '../../src/protocol/ids.js';
import { startProcess, stopProcess } from './amqp-support.js';
import { PYTHON, PYTHON_DIR, startPythonWorker, type PythonWorker } from '../support/python.js';
import { createVhost, rabbitmqctl, type Vhost } from '../support/rabbitmq.js';
import { PrivateRedis } from '../support/redis.js';
import type { RunningProcess } from '../support/processes.js';
import type { ReceivedEvent } from '../../src/events/incoming.js';
import { EventsState } from '../../src/events/state.js';
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
    taskSendSentEvent: true,
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
  // task-sent comes from the client (this app, whose origin is the worker's node name inside a worker).
  await dump.waitFor(new RegExp(`task sent: interop\\.add\\(${id}\\) args=\\(2, 3\\) kwargs=\\{\\}`), 20_000);
  for (const what of ['received', 'started', 'succeeded']) {
    const line = await dump.waitFor(new RegExp(`task ${what}: interop\\.add\\(${id}\\)`), 20_000);
    expect(line.startsWith(hostname)).toBe(true);
  }
}

/** The dump's line for a worker event of `hostname` (`started`, `heartbeat`, `shutdown`), as Celery prints it. */
function workerLine(dump: RunningProcess, hostname: string, what: string): Promise<string> {
  const node = hostname.replace(/[.]/g, '\\.');
  return dump.waitFor(
    new RegExp(
      `^${node} \\[[-0-9 :.]+\\] ${what}: active=\\d+, clock=\\d+, freq=2\\.0, loadavg=\\[[0-9.]+, [0-9.]+, [0-9.]+\\], ` +
        `local_received=[0-9.]+, pid=${process.pid}, processed=\\d+, sw_ident=celeriac, sw_sys=Linux, sw_ver=[0-9.]+`,
    ),
    30_000,
  );
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

  it('shows worker-online, task events, heartbeats and worker-offline of a Celeriac worker', async () => {
    const dump = pythonDump(PYTHON_DIR, { INTEROP_BROKER: server.url, INTEROP_QUEUE: queue });
    let worker: Awaited<ReturnType<typeof eventfulWorker>> | undefined;
    try {
      await dump.waitFor(/starting capture/);
      // Listening once kombu has PSUBSCRIBEd `/0.celeryev/*`.
      await expect.poll(() => client.pubsub('NUMPAT'), { timeout: 20_000 }).toBeGreaterThan(0);
      worker = await eventfulWorker(server.url, server.url, queue);
      await workerLine(dump, worker.hostname, 'started');
      const result = await worker.add.delay(2, 3);
      expect(await result.get({ timeout: 10 })).toBe(5);
      await seesTask(dump, worker.hostname, result.id);
      await workerLine(dump, worker.hostname, 'heartbeat');
      await worker.stop();
      await workerLine(dump, worker.hostname, 'shutdown');
    } finally {
      await stopProcess(dump);
      await worker?.stop();
    }
  }, 180_000);

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
      // Remote control is not this test's business: mingle's `hello` at start binds a reply queue for a moment.
      const added = (await client.keys('*')).filter((k) => !before.has(k) && !k.includes('pidbox'));
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

  it('shows worker-online, task events, heartbeats and worker-offline of a Celeriac worker', async () => {
    const dump = pythonDump(PYTHON_AMQP_DIR, { INTEROP_BROKER: vhost.url, INTEROP_QUEUE: queue });
    let worker: Awaited<ReturnType<typeof eventfulWorker>> | undefined;
    try {
      await dump.waitFor(/starting capture/);
      await expect.poll(eventQueues, { timeout: 30_000, interval: 500 }).toHaveLength(1);
      worker = await eventfulWorker(vhost.url, backend, queue);
      await workerLine(dump, worker.hostname, 'started');
      const result = await worker.add.delay(2, 3);
      expect(await result.get({ timeout: 10 })).toBe(5);
      await seesTask(dump, worker.hostname, result.id);
      await workerLine(dump, worker.hostname, 'heartbeat');
      await worker.stop();
      await workerLine(dump, worker.hostname, 'shutdown');
    } finally {
      await stopProcess(dump);
      await worker?.stop();
    }
  }, 180_000);

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

/** `celery worker -E` with heartbeats (Python Celery 5.2.6), its log awaited until ready. */
function pythonEventWorker(dir: string, broker: string, queue: string, name: string): Promise<PythonWorker> {
  return startPythonWorker({
    env: { INTEROP_BROKER: broker, INTEROP_QUEUE: queue },
    queues: [queue],
    name,
    dir,
    events: true,
    heartbeat: true,
  });
}

/** A Celeriac app (a monitor and a client) with a receiver collecting every event. */
async function monitor(broker: string, backend: string, conf: Record<string, unknown> = {}) {
  const app = new Celery('events-monitor', { broker, backend, ...conf });
  app.logger = createLogger({ level: 'warn' });
  const events: ReceivedEvent[] = [];
  const receiver = app.events.receiver({ '*': (event) => void events.push(event) });
  await receiver.start();
  const find = async (test: (e: ReceivedEvent) => boolean): Promise<ReceivedEvent> => {
    await expect.poll(() => events.some(test), { timeout: 30_000, interval: 50 }).toBe(true);
    return events.find(test)!;
  };
  return {
    app,
    events,
    find,
    close: async () => {
      await receiver.stop();
      await app.close();
    },
  };
}

async function seesPythonWorker(
  cwd: string,
  broker: string,
  backend: string,
  conf: Record<string, unknown> = {},
): Promise<void> {
  const queue = `events-py-${uuid().slice(0, 8)}`;
  const name = `py-events-${queue}@interop`;
  const mon = await monitor(broker, backend, conf);
  let worker: PythonWorker | undefined;
  try {
    worker = await pythonEventWorker(cwd, broker, queue, name);
    const online = await mon.find((e) => e.type === 'worker-online' && e.hostname === name);
    expect(online).toMatchObject({ sw_ident: 'py-celery', sw_ver: '5.2.6', freq: 2, active: 0 });
    const result = await mon.app.sendTask('interop.add', [20, 22], {}, { queue });
    const succeeded = await mon.find((e) => e.type === 'task-succeeded' && e.uuid === result.id);
    expect(succeeded).toMatchObject({ hostname: name, result: '42' });
    const received = await mon.find((e) => e.type === 'task-received' && e.uuid === result.id);
    expect(received).toMatchObject({ name: 'interop.add', args: '(20, 22)' });
    await mon.find((e) => e.type === 'worker-heartbeat' && e.hostname === name && e.processed === 1);
    const state = new EventsState();
    for (const event of mon.events) state.receive(event);
    expect(state.tasks.get(result.id)?.state).toBe('SUCCESS');
    await worker.stop();
    await mon.find((e) => e.type === 'worker-offline' && e.hostname === name);
  } finally {
    await worker?.stop();
    await mon.close();
  }
}

describe("Celeriac's receiver sees a Python worker's events", () => {
  it('on Redis', async () => {
    const server = await PrivateRedis.start();
    try {
      await seesPythonWorker(PYTHON_DIR, server.url, server.url);
    } finally {
      await server.stop();
    }
  }, 180_000);

  it('on RabbitMQ', async () => {
    const vhost = await createVhost('events-py');
    try {
      // The Python app's queues have x-max-priority 10: declared the same way here.
      await seesPythonWorker(PYTHON_AMQP_DIR, vhost.url, 'redis://127.0.0.1:6379/11', {
        taskQueueMaxPriority: 10,
      });
    } finally {
      await vhost.remove();
    }
  }, 180_000);
});

describe('a Redis restart', () => {
  it('brings the event stream back by itself: heartbeats and task events reach the receiver again', async () => {
    const server = await PrivateRedis.start();
    const queue = `events-restart-${uuid().slice(0, 8)}`;
    const worker = await eventfulWorker(server.url, server.url, queue);
    const mon = await monitor(server.url, server.url);
    try {
      await mon.find((e) => e.type === 'worker-heartbeat' && e.hostname === worker.hostname);
      await server.kill();
      await server.launch();
      const after = Date.now() / 1000;
      await mon.find(
        (e) => e.type === 'worker-heartbeat' && e.hostname === worker.hostname && e.local_received > after,
      );
      const result = await worker.add.delay(1, 2);
      await mon.find((e) => e.type === 'task-succeeded' && e.uuid === result.id);
    } finally {
      await worker.stop();
      await mon.close();
      await server.stop();
    }
  });
});
