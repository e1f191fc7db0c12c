/**
 * The public receiver and the worker's events on the embedded brokers (memory, SQLite): worker-online, heartbeats
 * with Celery's fields, task events split out of `task.multi` batches, custom events sent at once, task-sent from
 * the client, worker-offline on shutdown, runtime enable/disable, `--without-heartbeat`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import type { ReceivedEvent } from '../../src/events/incoming.js';
import type { EventReceiver } from '../../src/events/receiver.js';
import { EventsState } from '../../src/events/state.js';
import { createLogger, silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { Worker, type WorkerOptions } from '../../src/worker/worker.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function memoryUrl(): string {
  return `memory://receiver-test-${uuid()}`;
}

function sqliteUrl(): string {
  const dir = mkdtempSync(join(tmpdir(), 'receiver-test-'));
  dirs.push(dir);
  return `sqlite://${join(dir, 'broker.db')}`;
}

interface Harness {
  app: Celery;
  client: Celery;
  events: ReceivedEvent[];
  receiver: EventReceiver;
  worker: Worker | undefined;
}

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    await h.worker?.stop();
    await h.receiver.stop();
    await h.client.close();
    await h.app.close();
  }
});

/** A worker's app, a client app (its own connection, as a monitor has) with a receiver started. */
async function harness(url: string, conf: Record<string, unknown> = {}): Promise<Harness> {
  const app = new Celery('receiver-test', {
    broker: url,
    backend: url.startsWith('memory') ? url : 'memory://',
    ...conf,
  });
  app.logger = silentLogger();
  app.task('tasks.add', (x: number, y: number) => x + y);
  app.task(
    'tasks.progress',
    async (ctx, n: number) => {
      await ctx.sendEvent('task-progress', { done: n });
      return n;
    },
    { bind: true },
  );
  const client = new Celery('receiver-client', { broker: url, backend: 'memory://' });
  client.logger = silentLogger();
  const events: ReceivedEvent[] = [];
  const receiver = client.events.receiver({ '*': (event) => void events.push(event) });
  await receiver.start();
  const h: Harness = { app, client, events, receiver, worker: undefined };
  harnesses.push(h);
  return h;
}

async function startWorker(h: Harness, options: WorkerOptions = {}): Promise<Worker> {
  const worker = new Worker(h.app, {
    pool: 'async',
    logger: silentLogger(),
    hostname: `rt-${uuid().slice(0, 6)}@%h`,
    ...options,
  });
  h.worker = worker;
  await worker.start();
  return worker;
}

async function waitFor(
  events: ReceivedEvent[],
  test: (e: ReceivedEvent) => boolean,
  timeout = 20_000,
): Promise<ReceivedEvent> {
  await expect.poll(() => events.some(test), { timeout, interval: 20 }).toBe(true);
  return events.find(test)!;
}

describe.each([
  ['memory', memoryUrl],
  ['sqlite', sqliteUrl],
])('events on the %s broker', (_name, url) => {
  it('sends worker-online, task events (as task.multi), heartbeats and worker-offline', async () => {
    const h = await harness(url(), { workerSendTaskEvents: true });
    const worker = await startWorker(h);
    const online = await waitFor(h.events, (e) => e.type === 'worker-online');
    expect(online).toMatchObject({
      hostname: worker.hostname,
      pid: process.pid,
      freq: 2,
      active: 0,
      processed: 0,
      sw_ident: 'celeriac',
      sw_sys: expect.any(String) as string,
    });
    expect(Object.keys(online)).toEqual([
      'hostname',
      'utcoffset',
      'pid',
      'clock',
      'freq',
      'active',
      'processed',
      'loadavg',
      'sw_ident',
      'sw_ver',
      'sw_sys',
      'timestamp',
      'type',
      'local_received',
    ]);
    expect(online.loadavg).toHaveLength(3);
    const sent = await h.app.sendTask('tasks.add', [2, 3]);
    const succeeded = await waitFor(h.events, (e) => e.type === 'task-succeeded' && e.uuid === sent.id);
    expect(succeeded).toMatchObject({ hostname: worker.hostname, result: '5' });
    const types = h.events.filter((e) => e.uuid === sent.id).map((e) => e.type);
    expect(types).toEqual(['task-received', 'task-started', 'task-succeeded']);
    // A heartbeat sent before the task ended reports it active (or nothing processed yet): the one after it counts it.
    const beat = await waitFor(
      h.events,
      (e) => e.type === 'worker-heartbeat' && e.processed === 1 && e.active === 0,
    );
    expect(beat).toMatchObject({ hostname: worker.hostname, freq: 2, processed: 1, active: 0 });
    await worker.stop();
    await waitFor(h.events, (e) => e.type === 'worker-offline');
    // One Lamport clock per sender, ticking once per event.
    const clocks = h.events.filter((e) => e.hostname === worker.hostname).map((e) => e.clock);
    expect(clocks).toEqual([...clocks].sort((a, b) => a - b));
    const state = new EventsState();
    for (const event of h.events) state.receive(event);
    expect(state.tasks.get(sent.id)?.state).toBe('SUCCESS');
  });
});

describe('the receiver', () => {
  it('splits task.multi batches, sends custom events alone, and counts each event', async () => {
    const h = await harness(memoryUrl(), { workerSendTaskEvents: true });
    const batches: string[] = [];
    const raw = h.client.events.receiver({ '*': () => undefined });
    await raw.start();
    const broker = await h.client.getBroker();
    await broker.subscriptions!.subscribe(
      {
        queue: `raw-${uuid()}`,
        exchange: { name: 'celeryev', type: 'topic', durable: true },
        routingKey: '#',
      },
      (m) => batches.push(m.routingKey),
    );
    await startWorker(h);
    const sent = await h.app.sendTask('tasks.progress', [7]);
    await waitFor(h.events, (e) => e.type === 'task-succeeded' && e.uuid === sent.id);
    const progress = await waitFor(h.events, (e) => e.type === 'task-progress');
    expect(progress).toMatchObject({ uuid: sent.id, done: 7 });
    await expect.poll(() => batches.includes('task.progress')).toBe(true);
    expect(batches).toContain('task.multi');
    expect(batches).not.toContain('task.received');
    await raw.stop();
  });

  it('calls the handler of the type, else the wildcard, and survives a handler that throws', async () => {
    const h = await harness(memoryUrl(), { workerSendTaskEvents: true });
    const online: ReceivedEvent[] = [];
    const other: string[] = [];
    const r = h.client.events.receiver({
      'worker-online': (e) => void online.push(e),
      'task-received': () => {
        throw new Error('handler bug');
      },
      '*': (e) => void other.push(e.type),
    });
    await r.start();
    await startWorker(h);
    const sent = await h.app.sendTask('tasks.add', [1, 1]);
    await waitFor(h.events, (e) => e.type === 'task-succeeded' && e.uuid === sent.id);
    await expect.poll(() => other.includes('task-succeeded')).toBe(true);
    expect(online).toHaveLength(1);
    expect(other).not.toContain('worker-online');
    expect(other).not.toContain('task-received');
    await r.stop();
  });

  it('drops messages that are not JSON', async () => {
    const h = await harness(memoryUrl());
    const broker = await h.app.getBroker();
    await broker.declareExchange({ name: 'celeryev', type: 'topic', durable: true });
    await broker.publish(
      {
        headers: {},
        properties: { delivery_mode: 1 },
        contentType: 'application/x-python-serialize',
        contentEncoding: 'binary',
        body: Buffer.from('not json'),
      },
      { exchange: 'celeryev', routingKey: 'worker.heartbeat' },
    );
    await broker.publish(
      {
        headers: {},
        properties: { delivery_mode: 1 },
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        body: Buffer.from(JSON.stringify([{ type: 'custom-one', hostname: 'x', timestamp: 1 }, 3])),
      },
      { exchange: 'celeryev', routingKey: 'custom.multi' },
    );
    await waitFor(h.events, (e) => e.type === 'custom-one');
    expect(h.events).toHaveLength(1);
  });
});

describe('switches', () => {
  it('sends no task events without -E, heartbeats still; enable() and disable() at runtime', async () => {
    const h = await harness(memoryUrl());
    const worker = await startWorker(h);
    await waitFor(h.events, (e) => e.type === 'worker-online');
    expect(worker.taskEvents?.enabled).toBe(false);
    const quiet = await h.app.sendTask('tasks.add', [1, 2]);
    // The worker is done with it once a heartbeat says one task processed.
    await waitFor(h.events, (e) => e.type === 'worker-heartbeat' && e.processed === 1);
    expect(h.events.filter((e) => e.uuid === quiet.id)).toEqual([]);
    expect(worker.taskEvents?.enable()).toBe(true);
    expect(worker.taskEvents?.enable()).toBe(false);
    const loud = await h.app.sendTask('tasks.add', [1, 3]);
    await waitFor(h.events, (e) => e.type === 'task-succeeded' && e.uuid === loud.id);
    expect(worker.taskEvents?.disable()).toBe(true);
    expect(worker.taskEvents?.disable()).toBe(false);
    const again = await h.app.sendTask('tasks.add', [1, 4]);
    await waitFor(h.events, (e) => e.type === 'worker-heartbeat' && e.processed === 3);
    expect(h.events.filter((e) => e.uuid === again.id)).toEqual([]);
  });

  it('sends no worker events without heartbeat; sendNow() sends one as Celery does', async () => {
    const h = await harness(memoryUrl(), { workerSendTaskEvents: true });
    const worker = await startWorker(h, { heartbeat: false });
    expect(worker.heartbeat).toBeUndefined();
    const sent = await h.app.sendTask('tasks.add', [2, 2]);
    await waitFor(h.events, (e) => e.type === 'task-succeeded' && e.uuid === sent.id);
    expect(h.events.filter((e) => e.type.startsWith('worker-'))).toEqual([]);
    await worker.stop();

    const h2 = await harness(memoryUrl());
    const w2 = await startWorker(h2);
    await waitFor(h2.events, (e) => e.type === 'worker-online');
    await w2.heartbeat!.sendNow();
    const now = await waitFor(h2.events, (e) => e.type === 'worker-heartbeat' && e.freq === 5);
    expect(now).not.toHaveProperty('active');
    expect(now).toMatchObject({ sw_ident: 'celeriac' });
  });

  it('sends task-sent from the client when taskSendSentEvent', async () => {
    const h = await harness(memoryUrl(), { taskSendSentEvent: true });
    const sent = await h.app.sendTask('tasks.add', [5, 5], {}, { countdown: 60 });
    const event = await waitFor(h.events, (e) => e.type === 'task-sent');
    expect(event).toMatchObject({
      uuid: sent.id,
      name: 'tasks.add',
      args: '(5, 5)',
      kwargs: '{}',
      retries: 0,
      queue: 'celery',
      exchange: '',
      routing_key: 'celery',
      hostname: h.app.origin,
    });
    expect(typeof event.eta).toBe('string');
  });
});

describe('with no monitor running', () => {
  it.each([
    ['memory', memoryUrl],
    ['sqlite', sqliteUrl],
  ])('costs nothing on the %s broker: no queue, no log line', async (_name, url) => {
    const lines: { level: number; msg: string }[] = [];
    const logger = createLogger({
      level: 'debug',
      format: 'json',
      destination: {
        write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }),
      },
    });
    const broker = url();
    const app = new Celery('no-monitor', { broker, backend: 'memory://', workerSendTaskEvents: true });
    app.logger = logger;
    app.task('tasks.add', (x: number, y: number) => x + y);
    const worker = new Worker(app, { pool: 'async', logger, hostname: `nm-${uuid().slice(0, 6)}@%h` });
    await worker.start();
    try {
      const result = await app.sendTask('tasks.add', [1, 2]);
      expect(await result.get({ timeout: 20 })).toBe(3);
      await worker.heartbeat!.sendNow();
      expect(lines.filter((l) => l.level >= 40)).toEqual([]);
      expect(lines.filter((l) => /event/i.test(l.msg))).toEqual([]);
      const b = await app.getBroker();
      expect(await b.size('celeryev')).toBe(0);
    } finally {
      await worker.stop();
      await app.close();
    }
  });
});
