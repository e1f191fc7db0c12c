/**
 * The page's own JSON endpoints (under /api/dashboard/): paged task queries with every filter TaskQuery has,
 * task detail with its timeline and canvas links, workers with their inspect replies, queue depth and throughput
 * series, and `stream`, a Server-Sent Events feed that says "something changed" (at most four times a second) so
 * the page re-reads only what it shows.
 */
import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import {
  TASK_SORT_KEYS,
  TASK_TIME_FIELDS,
  type JsonValue,
  type TaskQuery,
  type TaskSortKey,
  type TaskTimeField,
  type WorkerSnapshot,
} from '../index.js';
import { flowerTask, taskDetail } from './flower-shape.js';
import type { Monitor } from './monitor.js';
import type { DashboardEnv } from './server.js';

export function dashboardApi(api: Hono<DashboardEnv>, monitor: Monitor): void {
  api.get('/api/dashboard/summary', (c) =>
    c.json({
      ...monitor.summary(),
      user: c.get('user')?.name ?? null,
      readOnly: c.get('user')?.readOnly ?? false,
    }),
  );
  api.get('/api/dashboard/tasks', (c) => {
    const page = monitor.state.queryTasks(pageQuery(new URL(c.req.url).searchParams));
    return c.json({
      total: page.total,
      offset: page.offset,
      limit: page.limit,
      tasks: page.tasks.map(flowerTask),
    });
  });
  api.get('/api/dashboard/task/:id', (c) => {
    const task = monitor.state.getTask(c.req.param('id'));
    if (task === undefined)
      return c.text(`Unknown task '${c.req.param('id')}' (not seen in the events, or evicted)`, 404);
    const name = (id: string | null): JsonValue =>
      id === null ? null : (monitor.state.getTask(id)?.name ?? null);
    return c.json({
      ...taskDetail(task),
      parentName: name(task.parentId),
      rootName: name(task.rootId),
      childNames: task.childIds.map(name),
    });
  });
  api.get('/api/dashboard/task-names', (c) => {
    const names = new Set(monitor.state.taskTypes());
    for (const info of monitor.workerInfo.values()) {
      if (Array.isArray(info.registered)) {
        for (const entry of info.registered)
          if (typeof entry === 'string') names.add(entry.split(' ')[0] as string);
      }
    }
    for (const name of monitor.app.tasks.keys()) if (!name.startsWith('celery.')) names.add(name);
    return c.json([...names].sort());
  });
  api.get('/api/dashboard/workers', (c) => {
    const now = monitor.state.time();
    const names = new Set([...monitor.state.workers.keys(), ...monitor.workerInfo.keys()]);
    return c.json(
      [...names]
        .sort()
        .map((name) => workerView(name, monitor.state.getWorker(name), monitor.workerInfo.get(name), now)),
    );
  });
  api.get('/api/dashboard/worker/:name', async (c) => {
    const name = c.req.param('name');
    if (c.req.query('refresh') && monitor.control) await monitor.refreshWorkers(name).catch(() => undefined);
    const snapshot = monitor.state.getWorker(name);
    const info = monitor.workerInfo.get(name);
    if (snapshot === undefined && info === undefined) return c.text(`Unknown worker '${name}'`, 404);
    return c.json({ ...workerView(name, snapshot, info, monitor.state.time()), info: info ?? {} });
  });
  api.get('/api/dashboard/queues', (c) =>
    c.json({ names: monitor.queueNames(), latest: monitor.queues.latest(), points: monitor.queues.points() }),
  );
  api.get('/api/dashboard/plots', (c) =>
    c.json({ rates: monitor.rates.points(monitor.state.time()), runtimes: monitor.runtimes.percentiles() }),
  );
  api.get('/api/dashboard/stream', (c) =>
    streamSSE(c, async (stream) => {
      let open = true;
      const unsubscribe = monitor.onChange((summary) => {
        void stream.writeSSE({ event: 'changed', data: JSON.stringify(summary) }).catch(() => undefined);
      });
      stream.onAbort(() => {
        open = false;
        unsubscribe();
      });
      await stream.writeSSE({ event: 'changed', data: JSON.stringify(monitor.summary()) });
      // Keeps the connection open; a comment every 15 s keeps proxies from closing it.
      while (open) {
        await stream.sleep(15_000);
        if (open) await stream.write(': keep-alive\n\n').catch(() => (open = false));
      }
      unsubscribe();
    }),
  );
}

function workerView(
  name: string,
  worker: WorkerSnapshot | undefined,
  info: Record<string, JsonValue> | undefined,
  now: number,
): Record<string, JsonValue> {
  const stats = (info?.stats ?? {}) as Record<string, JsonValue>;
  const pool = (stats.pool ?? {}) as Record<string, JsonValue>;
  const queues = Array.isArray(info?.active_queues)
    ? info.active_queues
        .map((q) => (q as Record<string, JsonValue> | null)?.name ?? null)
        .filter((q) => typeof q === 'string')
    : [];
  const active = Array.isArray(info?.active) ? info.active.length : (worker?.active ?? null);
  return {
    hostname: name,
    online: worker?.isAlive(now) ?? false,
    pid: worker?.pid ?? (typeof stats.pid === 'number' ? stats.pid : null),
    software: worker?.swIdent ? `${worker.swIdent} ${worker.swVer ?? ''}`.trim() : null,
    system: worker?.swSys ?? null,
    freq: worker?.freq ?? null,
    lastHeartbeat: worker?.heartbeats.at(-1) ?? null,
    processed: worker?.processed ?? null,
    active,
    loadavg: worker?.loadavg ? [...worker.loadavg] : null,
    pool: typeof pool.implementation === 'string' ? pool.implementation : null,
    concurrency: typeof pool['max-concurrency'] === 'number' ? pool['max-concurrency'] : null,
    queues,
  };
}

/** The page's query parameters: state, name, worker (each repeatable), since/until, search, sort, paging. */
export function pageQuery(params: URLSearchParams): TaskQuery {
  const query: { -readonly [K in keyof TaskQuery]: TaskQuery[K] } = {};
  const many = (key: string): string[] | undefined => {
    const values = params
      .getAll(key)
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean);
    return values.length > 0 ? values : undefined;
  };
  const state = many('state');
  if (state) query.state = state;
  const name = many('name');
  if (name) query.name = name;
  const worker = many('worker');
  if (worker) query.worker = worker;
  const root = params.get('root');
  if (root) query.rootId = root;
  const timeField = params.get('timeField');
  if (timeField) {
    if (!(TASK_TIME_FIELDS as readonly string[]).includes(timeField))
      throw new RangeError(`timeField must be one of ${TASK_TIME_FIELDS.join(', ')}`);
    query.timeField = timeField as TaskTimeField;
  }
  const since = params.get('since');
  if (since) query.since = seconds('since', since);
  const until = params.get('until');
  if (until) query.until = seconds('until', until);
  const search = params.get('search');
  if (search) {
    query.search = search;
    query.searchIn = ['args', 'kwargs', 'result', 'exception', 'name', 'uuid'];
  }
  const sort = params.get('sort');
  if (sort) {
    if (!(TASK_SORT_KEYS as readonly string[]).includes(sort))
      throw new RangeError(`sort must be one of ${TASK_SORT_KEYS.join(', ')}`);
    query.sortBy = sort as TaskSortKey;
  }
  const order = params.get('order');
  if (order === 'asc' || order === 'desc') query.order = order;
  const offset = params.get('offset');
  if (offset) query.offset = Number(offset);
  const limit = params.get('limit');
  if (limit) query.limit = Number(limit);
  return query;
}

/** Seconds since the epoch, or an ISO date. */
function seconds(name: string, text: string): number {
  const n = Number(text);
  if (Number.isFinite(n)) return n;
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new RangeError(`${name} must be seconds since the epoch or an ISO date, got "${text}"`);
  return ms / 1000;
}
