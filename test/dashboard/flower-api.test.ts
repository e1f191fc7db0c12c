/**
 * Flower's HTTP API against recorded replies: the events stream recorded from a real Celery 5.2.6 worker
 * (test/fixtures/events) is fed to the dashboard, and its answers are compared with what Flower 1.2 answers for
 * the same stream (fixtures/record_flower.py replays it into Celery's own State and builds Flower's replies):
 * the same fields, with the same types and values. Control endpoints are checked against a recording control
 * port (the commands and arguments Celery's workers expect), auth and read-only users too.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Celery, prepareEvent, splitEventBody, LamportClock, type JsonValue } from '../../src/index.js';
import { createDashboard, type ControlPort, type DashboardOptions } from '../../src/dashboard/index.js';
import { bodyOf, stream } from '../fixtures/events/fixtures.js';

interface FlowerReplies {
  task_info: Record<string, Record<string, JsonValue>>;
  task_types: { 'task-types': string[] };
  list: Record<string, [string, Record<string, JsonValue>][]>;
}

const replies = JSON.parse(
  readFileSync(new URL('./fixtures/flower-replies.json', import.meta.url), 'utf8'),
) as FlowerReplies;
const recording = stream();

function app(): Celery {
  return new Celery('flower-api', { broker: 'memory://', backend: 'memory://' });
}

interface Sent {
  command: string;
  options: Record<string, unknown>;
}

/** A control port that records what it is asked and answers like a worker named `evcap@capture`. */
function recordingControl(sent: Sent[]): ControlPort {
  const reply = (value: JsonValue) => Promise.resolve({ 'evcap@capture': value });
  return {
    inspect: () => ({
      stats: () => reply({ pid: 1, pool: { implementation: 'prefork', 'max-concurrency': 4 } }),
      activeQueues: () => reply([{ name: 'evcap', routing_key: 'evcap', exchange: { name: 'evcap' } }]),
      registered: () => reply(['events.add', 'events.fail']),
      scheduled: () => reply([]),
      active: () => reply([]),
      reserved: () => reply([]),
      revoked: () => reply([]),
      conf: () => reply({ worker_prefetch_multiplier: 4 }),
    }),
    broadcast: (command, options = {}) => {
      sent.push({ command, options: { ...options } });
      if (command === 'pool_grow')
        return Promise.resolve([{ 'evcap@capture': { error: 'pool cannot grow' } }]);
      return Promise.resolve([{ 'evcap@capture': { ok: `${command} done` } }]);
    },
  };
}

async function dashboard(options: Partial<DashboardOptions> = {}) {
  const sent: Sent[] = [];
  const d = createDashboard({ app: app(), control: recordingControl(sent), queueInterval: 0, ...options });
  const clock = new LamportClock();
  for (const message of recording.messages) {
    for (const raw of splitEventBody(bodyOf(message)).events) {
      d.monitor.receive(prepareEvent(raw, { clock, now: message.received_at }));
    }
  }
  const request = async (path: string, init: RequestInit = {}) => {
    const response = await d.fetch(new Request(`http://dashboard${path}`, init));
    const type = response.headers.get('content-type') ?? '';
    return {
      status: response.status,
      body: type.includes('json') ? await response.json() : await response.text(),
    };
  };
  return { d, sent, request };
}

const typeOf = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

describe("Flower's task API on a recorded Celery 5.2.6 stream", () => {
  it('GET /api/task/info/:id answers every task with Flower 1.2 field names, types and values', async () => {
    const { request } = await dashboard();
    expect(Object.keys(replies.task_info).length).toBeGreaterThan(15);
    for (const [uuid, expected] of Object.entries(replies.task_info)) {
      const { status, body } = await request(`/api/task/info/${uuid}`);
      expect(status).toBe(200);
      const ours = body as Record<string, JsonValue>;
      expect(Object.keys(ours).sort()).toEqual(Object.keys(expected).sort());
      for (const [key, value] of Object.entries(expected)) {
        expect([uuid, key, typeOf(ours[key])]).toEqual([uuid, key, typeOf(value)]);
        if (key === 'children')
          expect([...(ours[key] as string[])].sort()).toEqual([...(value as string[])].sort());
        else if (typeof value === 'number') expect(ours[key] as number).toBeCloseTo(value, 5);
        else expect([uuid, key, ours[key]]).toEqual([uuid, key, value]);
      }
    }
    expect((await request('/api/task/info/nope')).status).toBe(404);
  });

  it('GET /api/task/types lists the task names seen', async () => {
    const { request } = await dashboard();
    expect((await request('/api/task/types')).body).toEqual(replies.task_types);
  });

  it.each(Object.keys(replies.list))('GET /api/tasks?%s selects what Flower selects', async (query) => {
    const { request } = await dashboard();
    const { status, body } = await request(`/api/tasks?${query}`);
    expect(status).toBe(200);
    const expected = replies.list[query]!;
    const ours = Object.entries(body as Record<string, Record<string, JsonValue>>);
    expect(ours.map(([id]) => id).sort()).toEqual(expected.map(([id]) => id).sort());
    const sortKey = new URLSearchParams(query).get('sort_by')?.replace(/^-/, '');
    if (sortKey !== undefined) {
      // Ties are ordered differently (Flower keeps its event order), the sort key's sequence is the same.
      expect(ours.map(([, t]) => t[sortKey])).toEqual(expected.map(([, t]) => t[sortKey]));
    } else {
      expect(ours.map(([id]) => id)).toEqual(expected.map(([id]) => id));
    }
    for (const [, task] of ours)
      expect(Object.keys(task).sort()).toEqual(Object.keys(expected[0]![1]).sort());
  });

  it('filters by received time and searches args, kwargs and results', async () => {
    const { request } = await dashboard();
    const all = Object.values(
      (await request('/api/tasks')).body as Record<string, { received: number | null }>,
    );
    const received = all.map((t) => t.received).filter((r): r is number => r !== null);
    const local = (s: number) => {
      const d = new Date(s * 1000);
      const p = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
    };
    const start = Math.min(...received);
    const { body } = await request(`/api/tasks?received_start=${encodeURIComponent(local(start))}`);
    expect(Object.keys(body as object).length).toBe(received.length);
    const future = await request(
      `/api/tasks?received_start=${encodeURIComponent(local(Math.max(...received) + 120))}`,
    );
    expect(future.body).toEqual({});
    const bad = await request('/api/tasks?received_start=yesterday');
    expect(bad.status).toBe(400);
    const search = (await request('/api/tasks?search=events.fail')).body as Record<string, { name: string }>;
    expect(Object.values(search).map((t) => t.name)).toEqual(['events.fail']);
  });
});

describe("Flower's worker and control API", () => {
  it('GET /api/workers?refresh=1 runs the eight inspect commands and answers per node; status=1 tells who is alive', async () => {
    const { request } = await dashboard();
    const { body } = await request('/api/workers?refresh=1');
    const info = (body as Record<string, Record<string, JsonValue>>)['evcap@capture']!;
    expect(Object.keys(info).sort()).toEqual(
      [
        'active',
        'active_queues',
        'conf',
        'registered',
        'reserved',
        'revoked',
        'scheduled',
        'stats',
        'timestamp',
      ].sort(),
    );
    expect(typeof info.timestamp).toBe('number');
    const status = (await request('/api/workers?status=1')).body as Record<string, boolean>;
    expect(Object.keys(status).sort()).toEqual(['evcap-solo@capture', 'evcap@capture']);
    expect((await request('/api/workers?workername=nobody')).status).toBe(404);
  });

  it("POST /api/task/revoke/:id sends Celery's revoke with terminate and signal", async () => {
    const { request, sent } = await dashboard();
    const { body } = await request('/api/task/revoke/abc?terminate=true&signal=SIGKILL', { method: 'POST' });
    expect(body).toEqual({ message: "Revoked 'abc'" });
    expect(sent).toEqual([
      {
        command: 'revoke',
        options: { arguments: { task_id: 'abc', terminate: true, signal: 'SIGKILL' }, reply: false },
      },
    ]);
  });

  it("worker control endpoints send Celery's commands to the one worker and relay its reply", async () => {
    const { request, sent } = await dashboard();
    const post = (path: string) => request(path, { method: 'POST' });
    expect((await post('/api/worker/shutdown/evcap@capture')).body).toEqual({ message: 'Shutting down!' });
    expect((await post('/api/worker/pool/shrink/evcap@capture?n=2')).body).toEqual({
      message: "Shrink 'evcap@capture' worker's pool by 2",
    });
    const grow = await post('/api/worker/pool/grow/evcap@capture?n=1');
    expect(grow).toEqual({
      status: 403,
      body: "Failed to grow 'evcap@capture' worker's pool by 1: pool cannot grow",
    });
    await post('/api/worker/pool/autoscale/evcap@capture?min=1&max=5');
    await post('/api/worker/queue/add-consumer/evcap@capture?queue=extra');
    await post('/api/task/rate-limit/events.add?workername=evcap@capture&ratelimit=10/m');
    expect((await post('/api/worker/shutdown/nobody@nowhere')).status).toBe(404);
    expect(sent.map((s) => [s.command, s.options.arguments ?? null, s.options.destination])).toEqual([
      ['shutdown', null, ['evcap@capture']],
      ['pool_shrink', { n: 2 }, ['evcap@capture']],
      ['pool_grow', { n: 1 }, ['evcap@capture']],
      ['autoscale', { min: 1, max: 5 }, ['evcap@capture']],
      ['add_consumer', { queue: 'extra' }, ['evcap@capture']],
      ['rate_limit', { task_name: 'events.add', rate_limit: '10/m' }, ['evcap@capture']],
    ]);
  });

  it('answers 503 for control without a control port', async () => {
    const { request } = await dashboard({ control: undefined });
    expect((await request('/api/task/revoke/abc', { method: 'POST' })).status).toBe(503);
    expect((await request('/api/workers?refresh=1')).status).toBe(503);
  });
});

describe('sending tasks through the API', () => {
  it('POST /api/task/send-task/:name publishes {args, kwargs, options} and answers {"task-id", state}', async () => {
    const { d, request } = await dashboard();
    const { status, body } = await request('/api/task/send-task/tasks.add', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ args: [1, 2], kwargs: { z: 3 }, options: { queue: 'other', priority: 3 } }),
    });
    expect(status).toBe(200);
    const reply = body as { 'task-id': string; state: string };
    expect(reply.state).toBe('PENDING');
    expect(reply['task-id']).toMatch(/^[0-9a-f-]{36}$/);
    const broker = await d.monitor.app.getBroker();
    expect(await broker.size('other')).toBe(1);
    const bad = await request('/api/task/send-task/tasks.add', { method: 'POST', body: '{"args": 3}' });
    expect(bad).toEqual({ status: 400, body: 'args must be an array' });
    const option = await request('/api/task/send-task/tasks.add', {
      method: 'POST',
      body: '{"options": {"bogus": 1}}',
    });
    expect(option.status).toBe(400);
    await d.monitor.app.close();
  });

  it('GET /api/task/result/:id answers the state, and the result once ready', async () => {
    const { d, request } = await dashboard();
    const backend = await d.monitor.app.getBackend();
    await backend.store({
      task_id: 'r1',
      status: 'SUCCESS',
      result: 5,
      traceback: null,
      children: [],
      date_done: null,
    });
    expect((await request('/api/task/result/r1')).body).toEqual({
      'task-id': 'r1',
      state: 'SUCCESS',
      result: 5,
    });
    expect((await request('/api/task/result/r2')).body).toEqual({ 'task-id': 'r2', state: 'PENDING' });
    await d.monitor.app.close();
  });
});

describe('auth', () => {
  const basic = (user: string, pass: string) => ({
    Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
  });

  it('asks for basic auth, takes several users, and refuses control actions to a read-only user', async () => {
    const users = [
      { name: 'admin', password: 's3cret', readOnly: false },
      { name: 'viewer', password: 'look', readOnly: true },
    ];
    const { request, sent } = await dashboard({ users });
    const anonymous = await request('/api/tasks');
    expect(anonymous.status).toBe(401);
    expect((await request('/api/tasks', { headers: basic('admin', 'wrong') })).status).toBe(401);
    expect((await request('/api/tasks', { headers: basic('viewer', 'look') })).status).toBe(200);
    expect((await request('/metrics', { headers: basic('viewer', 'look') })).status).toBe(200);
    const denied = await request('/api/task/revoke/x', { method: 'POST', headers: basic('viewer', 'look') });
    expect(denied.status).toBe(403);
    expect(sent).toEqual([]);
    expect(
      (await request('/api/task/revoke/x', { method: 'POST', headers: basic('admin', 's3cret') })).status,
    ).toBe(200);
  });

  it('refuses to serve a non-loopback address without auth unless told it is unsafe', () => {
    expect(() => createDashboard({ app: app(), address: '0.0.0.0' })).toThrow(
      /--basic-auth.*--unsafe-no-auth/,
    );
    expect(() => createDashboard({ app: app(), address: '0.0.0.0', unsafeNoAuth: true })).not.toThrow();
    expect(() => createDashboard({ app: app(), address: '::1' })).not.toThrow();
  });

  it('serves everything under --url-prefix', async () => {
    const { request } = await dashboard({ urlPrefix: '/flower/' });
    expect((await request('/flower/api/task/types')).status).toBe(200);
    expect((await request('/api/task/types')).status).toBe(404);
    const page = await request('/flower/');
    expect(page.body).toContain('/flower/static/app.js');
  });
});
