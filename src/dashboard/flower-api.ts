/**
 * Flower 1.2's HTTP API (flower/urls.py, flower/api/*.py): the same paths, parameters, JSON field names and
 * status codes, so that scripts written for Flower keep working against `celeriac dashboard`. Control actions
 * go through `requireWrite` (a read-only user gets 403).
 */
import type { Context, Hono } from 'hono';
import { encodeJson, States, type JsonValue } from '../index.js';
import { BadRequest, flowerCallOptions, flowerTask, flowerTaskQuery } from './flower-shape.js';
import type { Monitor } from './monitor.js';
import { repliesByNode } from './ports.js';
import type { DashboardEnv } from './server.js';

type Ctx = Context<DashboardEnv>;

export function flowerApi(api: Hono<DashboardEnv>, monitor: Monitor): void {
  api.get('/api/workers', (c) => listWorkers(c, monitor));
  api.get('/api/tasks', (c) => listTasks(c, monitor));
  api.get('/api/task/types', (c) => c.json({ 'task-types': monitor.state.taskTypes() }));
  api.get('/api/task/info/:id', (c) => {
    const task = monitor.state.getTask(c.req.param('id'));
    if (task === undefined) return c.text(`Unknown task '${c.req.param('id')}'`, 404);
    return c.json(flowerTask(task));
  });
  api.get('/api/task/result/:id', (c) => taskResult(c, monitor));
  api.get('/api/queues/length', async (c) => {
    await monitor.sampleQueues();
    const lengths = monitor.queues.latest();
    return c.json({ active_queues: Object.entries(lengths).map(([name, messages]) => ({ name, messages })) });
  });
  api.post('/api/task/async-apply/:name', (c) => applyTask(c, monitor, 'async'));
  api.post('/api/task/apply/:name', (c) => applyTask(c, monitor, 'wait'));
  api.post('/api/task/send-task/:name', (c) => applyTask(c, monitor, 'send'));
  api.post('/api/task/revoke/:id', async (c) => {
    const id = c.req.param('id');
    const terminate = truthy(c.req.query('terminate'));
    const signal = c.req.query('signal') ?? 'SIGTERM';
    await control(monitor).broadcast('revoke', {
      arguments: { task_id: id, terminate, signal },
      reply: false,
    });
    return c.json({ message: `Revoked '${id}'` });
  });
  api.post('/api/task/rate-limit/:name', async (c) => {
    const name = c.req.param('name');
    const form = await params(c);
    const worker = form.get('workername') ?? undefined;
    const rate = form.get('ratelimit');
    if (rate === null) return c.text('Missing argument ratelimit', 400);
    return workerCommand(
      c,
      monitor,
      worker,
      'rate_limit',
      { task_name: name, rate_limit: rate },
      'Failed to set rate limit',
    );
  });
  api.post('/api/task/timeout/:name', async (c) => {
    const name = c.req.param('name');
    const form = await params(c);
    const worker = form.get('workername') ?? undefined;
    const number = (key: string): JsonValue => (form.get(key) === null ? null : Number(form.get(key)));
    return workerCommand(
      c,
      monitor,
      worker,
      'time_limit',
      { task_name: name, hard: number('hard'), soft: number('soft') },
      'Failed to set timeouts',
    );
  });
  api.post('/api/worker/shutdown/:worker', async (c) => {
    const worker = c.req.param('worker');
    if (!knownWorker(monitor, worker)) return c.text(`Unknown worker '${worker}'`, 404);
    await control(monitor).broadcast('shutdown', { destination: [worker], reply: false });
    return c.json({ message: 'Shutting down!' });
  });
  const poolAction = (
    path: string,
    command: string,
    args: (form: URLSearchParams) => Record<string, JsonValue>,
    verb: (w: string, f: URLSearchParams) => string,
  ) =>
    api.post(path, async (c) => {
      const worker = c.req.param('worker') as string;
      const form = await params(c);
      return workerCommand(
        c,
        monitor,
        worker,
        command,
        args(form),
        `Failed to ${verb(worker, form)}`,
        verb(worker, form),
      );
    });
  poolAction(
    '/api/worker/pool/restart/:worker',
    'pool_restart',
    () => ({ reload: false }),
    (w) => `restart the '${w}' pool`,
  );
  poolAction(
    '/api/worker/pool/grow/:worker',
    'pool_grow',
    (f) => ({ n: Number(f.get('n') ?? 1) }),
    (w, f) => `grow '${w}' worker's pool by ${f.get('n') ?? 1}`,
  );
  poolAction(
    '/api/worker/pool/shrink/:worker',
    'pool_shrink',
    (f) => ({ n: Number(f.get('n') ?? 1) }),
    (w, f) => `shrink '${w}' worker's pool by ${f.get('n') ?? 1}`,
  );
  poolAction(
    '/api/worker/pool/autoscale/:worker',
    'autoscale',
    (f) => ({ min: Number(f.get('min')), max: Number(f.get('max')) }),
    (w, f) => `autoscale '${w}' worker (min=${f.get('min')}, max=${f.get('max')})`,
  );
  poolAction(
    '/api/worker/queue/add-consumer/:worker',
    'add_consumer',
    (f) => ({ queue: f.get('queue') ?? '' }),
    (w, f) => `add '${f.get('queue')}' consumer to '${w}' worker`,
  );
  poolAction(
    '/api/worker/queue/cancel-consumer/:worker',
    'cancel_consumer',
    (f) => ({ queue: f.get('queue') ?? '' }),
    (w, f) => `cancel '${f.get('queue')}' consumer from '${w}' worker`,
  );
}

function control(monitor: Monitor) {
  const port = monitor.control;
  if (!port) throw new ServiceUnavailable('remote control is not available to this dashboard');
  return port;
}

export class ServiceUnavailable extends Error {
  readonly status = 503;
}

function knownWorker(monitor: Monitor, worker: string): boolean {
  return monitor.workerInfo.has(worker) || monitor.state.getWorker(worker) !== undefined;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/** Query string and form body (Flower's `get_argument` reads both). */
async function params(c: Ctx): Promise<URLSearchParams> {
  const out = new URL(c.req.url).searchParams;
  const type = c.req.header('content-type') ?? '';
  if (type.includes('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(await c.req.text())) out.set(k, v);
  } else if (type.includes('application/json')) {
    const body = (await c.req.json().catch(() => ({}))) as Record<string, unknown>;
    for (const [k, v] of Object.entries(body ?? {})) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.set(k, String(v));
    }
  }
  return out;
}

/** A control command with a reply from one worker (or all): Flower answers 403 with the reason on failure. */
async function workerCommand(
  c: Ctx,
  monitor: Monitor,
  worker: string | undefined,
  command: string,
  args: Record<string, JsonValue>,
  failure: string,
  success?: string,
) {
  if (worker !== undefined && !knownWorker(monitor, worker)) return c.text(`Unknown worker '${worker}'`, 404);
  const replies = repliesByNode(
    await control(monitor).broadcast(command, {
      arguments: args,
      reply: true,
      timeout: 1,
      ...(worker !== undefined ? { destination: [worker] } : {}),
    }),
  );
  const reply = (worker !== undefined ? replies[worker] : Object.values(replies)[0]) as
    Record<string, JsonValue> | undefined;
  if (reply && typeof reply === 'object' && 'ok' in reply) {
    return c.json({
      message: success !== undefined ? `${success[0]?.toUpperCase()}${success.slice(1)}` : reply.ok,
    });
  }
  const reason =
    reply && typeof reply === 'object' && typeof reply.error === 'string' ? reply.error : 'Unknown reason';
  return c.text(`${failure}: ${reason}`, 403);
}

async function listWorkers(c: Ctx, monitor: Monitor) {
  const query = new URL(c.req.url).searchParams;
  const workername = query.get('workername') ?? undefined;
  if (truthy(query.get('status') ?? undefined)) {
    const now = monitor.state.time();
    const out: Record<string, boolean> = {};
    for (const [name, worker] of monitor.state.workers) out[name] = worker.isAlive(now);
    return c.json(out);
  }
  if (truthy(query.get('refresh') ?? undefined)) {
    try {
      await monitor.refreshWorkers(workername);
    } catch (error) {
      return c.text(`Failed to update workers: ${(error as Error).message}`, 503);
    }
  }
  if (workername !== undefined) {
    const info = monitor.workerInfo.get(workername);
    if (info === undefined) return c.text(`Unknown worker '${workername}'`, 404);
    return c.json({ [workername]: info });
  }
  return c.json(Object.fromEntries(monitor.workerInfo));
}

function listTasks(c: Ctx, monitor: Monitor) {
  const query = flowerTaskQuery(new URL(c.req.url).searchParams);
  const out: Record<string, JsonValue> = {};
  // Flower returns every match when no limit is given: page through them.
  let offset = query.offset ?? 0;
  let remaining = query.limit ?? Infinity;
  for (;;) {
    const limit = Math.min(remaining, 10_000);
    const page = monitor.state.queryTasks({ ...query, offset, limit });
    for (const task of page.tasks) out[task.uuid] = flowerTask(task);
    remaining -= page.tasks.length;
    offset += page.tasks.length;
    if (page.tasks.length < limit || remaining <= 0) break;
  }
  return c.json(out);
}

function backendConfigured(monitor: Monitor): boolean {
  const backend = monitor.app.conf.backend;
  return backend !== null && backend !== 'disabled';
}

async function taskResult(c: Ctx, monitor: Monitor) {
  const id = c.req.param('id') as string;
  if (!backendConfigured(monitor)) return c.text('result backend is not configured', 503);
  const result = monitor.app.AsyncResult(id);
  const timeout = c.req.query('timeout');
  const response: Record<string, JsonValue> = { 'task-id': id };
  if (timeout !== undefined && Number(timeout) > 0) {
    await result
      .get({ propagate: false, signal: AbortSignal.timeout(Number(timeout) * 1000) })
      .catch(() => undefined);
  }
  const meta = await result.meta();
  response.state = meta.status;
  if (
    (States as Record<string, string>)[meta.status] !== undefined &&
    ['SUCCESS', 'FAILURE', 'REVOKED'].includes(meta.status)
  ) {
    response.result = meta.status === 'FAILURE' ? exceptionText(meta.result) : meta.result;
    if (meta.status === 'FAILURE') response.traceback = meta.traceback;
  }
  return c.json(response);
}

/** Celery stores an exception as `{exc_type, exc_message}`; Flower shows its repr, e.g. `ValueError('x')`. */
function exceptionText(value: JsonValue): JsonValue {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'exc_type' in value) {
    const message = value.exc_message;
    const parts = Array.isArray(message) ? message.map((m) => encodeJson(m)).join(', ') : encodeJson(message);
    const type = typeof value.exc_type === 'string' ? value.exc_type : 'Exception';
    return `${type}(${parts})`;
  }
  return value;
}

async function applyTask(c: Ctx, monitor: Monitor, mode: 'async' | 'wait' | 'send') {
  const name = c.req.param('name') as string;
  let body: unknown = {};
  const text = await c.req.text();
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch (error) {
      return c.text((error as Error).message, 400);
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return c.text('invalid options', 400);
  const { args = [], kwargs = {}, ...options } = body as Record<string, JsonValue>;
  if (!Array.isArray(args)) return c.text('args must be an array', 400);
  if (kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs))
    return c.text('kwargs must be an object', 400);
  // Flower's apply and async-apply need the task's code (404 for an unknown one); send-task does not. The
  // dashboard usually runs without the tasks' code, so it sends by name for all three unless the app knows
  // better: it refuses only names that no worker has registered when it knows the registered tasks.
  if (mode !== 'send' && !knownTask(monitor, name)) return c.text(`Unknown task '${name}'`, 404);
  let callOptions;
  try {
    const nested = (options.options ?? {}) as Record<string, JsonValue>;
    const { options: _nested, ...flat } = options;
    callOptions = flowerCallOptions({ ...flat, ...nested });
  } catch (error) {
    return c.text(error instanceof BadRequest ? error.message : 'Invalid option', 400);
  }
  const result = await monitor.app.sendTask(name, args, kwargs, callOptions);
  const response: Record<string, JsonValue> = { 'task-id': result.id };
  if (mode === 'wait') {
    await result.get({ propagate: false }).catch(() => undefined);
    const meta = await result.meta();
    response.result = meta.status === 'FAILURE' ? exceptionText(meta.result) : meta.result;
    if (meta.status === 'FAILURE') response.traceback = meta.traceback;
  }
  if (backendConfigured(monitor)) response.state = await result.state();
  return c.json(response);
}

function knownTask(monitor: Monitor, name: string): boolean {
  if (monitor.app.tasks.has(name) || monitor.state.taskTypes().includes(name)) return true;
  for (const info of monitor.workerInfo.values()) {
    const registered = info.registered;
    if (
      Array.isArray(registered) &&
      registered.some((t) => typeof t === 'string' && t.split(' ')[0] === name)
    )
      return true;
  }
  return monitor.workerInfo.size === 0;
}
