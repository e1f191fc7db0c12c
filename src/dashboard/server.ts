/**
 * `createDashboard()`: the web monitor. A Hono app (served by @hono/node-server) with Flower's HTTP API, the
 * dashboard's own JSON and live-update endpoints, Prometheus `/metrics`, and the page (plain HTML/JS/CSS under
 * public/, shipped in the package). Everything sits under `urlPrefix`. Auth is HTTP basic with several users;
 * read-only users get 403 on every POST (control actions and sending tasks).
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import type { Celery } from '../index.js';
import { authenticate, checkExposure, type DashboardUser } from './auth.js';
import { dashboardApi } from './dashboard-api.js';
import { flowerApi } from './flower-api.js';
import { Monitor } from './monitor.js';
import type { ControlPort, EventsPort } from './ports.js';
import { staticPages } from './static.js';
import { SqliteEventStore } from './store.js';

export interface DashboardOptions {
  readonly app: Celery;
  /** The event receiver factory, usually `app.events`. Without it the dashboard shows only what it is fed. */
  readonly events?: EventsPort | undefined;
  /** Remote control, usually `app.control`. Without it, worker details and actions answer 503. */
  readonly control?: ControlPort | undefined;
  readonly port?: number;
  readonly address?: string;
  readonly users?: readonly DashboardUser[];
  /** Serve on a non-loopback address without auth. */
  readonly unsafeNoAuth?: boolean;
  /** Path prefix, e.g. `/flower` behind a reverse proxy. */
  readonly urlPrefix?: string;
  /** Tasks kept (default 10,000). */
  readonly maxTasks?: number;
  /** SQLite file to keep events across restarts (`--persistent --db FILE`). */
  readonly db?: string | undefined;
  /** Seconds between queue depth samples (default 2). */
  readonly queueInterval?: number;
  readonly inspectTimeout?: number;
  /** The time in seconds since the epoch (tests). */
  readonly now?: () => number;
}

export interface DashboardEnv {
  Variables: { user: DashboardUser | null };
}

export class Dashboard {
  readonly monitor: Monitor;
  readonly http: Hono<DashboardEnv>;
  readonly prefix: string;
  private server: ServerType | null = null;

  constructor(private readonly options: DashboardOptions) {
    const users = options.users ?? [];
    checkExposure(options.address ?? '127.0.0.1', users, options.unsafeNoAuth ?? false);
    this.prefix = normalizePrefix(options.urlPrefix ?? '');
    const store = options.db ? new SqliteEventStore(options.db, options.maxTasks ?? 10_000) : undefined;
    this.monitor = new Monitor({
      app: options.app,
      events: options.events,
      control: options.control,
      store,
      ...(options.maxTasks !== undefined ? { maxTasks: options.maxTasks } : {}),
      ...(options.queueInterval !== undefined ? { queueInterval: options.queueInterval } : {}),
      ...(options.inspectTimeout !== undefined ? { inspectTimeout: options.inspectTimeout } : {}),
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
    this.http = buildHttp(this.monitor, users, this.prefix);
  }

  /** Handles one request without a socket (tests). */
  fetch(request: Request): Response | Promise<Response> {
    return this.http.fetch(request);
  }

  /** Starts the monitor and listens; resolves with the URL. */
  async start(): Promise<string> {
    await this.monitor.start();
    const address = this.options.address ?? '127.0.0.1';
    const port = await new Promise<number>((resolve, reject) => {
      const server = serve(
        { fetch: this.http.fetch, port: this.options.port ?? 5555, hostname: address },
        (info: AddressInfo) => resolve(info.port),
      );
      server.once('error', reject);
      this.server = server;
    });
    const host = address.includes(':') ? `[${address}]` : address;
    return `http://${host}:${port}${this.prefix}/`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    }
    await this.monitor.stop();
  }
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.trim().replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `/${trimmed}`;
}

function buildHttp(monitor: Monitor, users: readonly DashboardUser[], prefix: string): Hono<DashboardEnv> {
  const http = new Hono<DashboardEnv>({ strict: false });
  const root = prefix === '' ? http : new Hono<DashboardEnv>({ strict: false });
  root.use('*', async (c, next) => {
    if (users.length === 0) {
      c.set('user', null);
    } else {
      const user = authenticate(c.req.header('authorization'), users);
      if (user === null) {
        return c.text('Unauthorized', 401, {
          'WWW-Authenticate': 'Basic realm="celeriac dashboard", charset="UTF-8"',
        });
      }
      c.set('user', user);
      if (user.readOnly && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
        return c.text(`Forbidden: user "${user.name}" is read-only`, 403);
      }
    }
    await next();
    return undefined;
  });
  root.onError((error, c) => {
    const status = (error as { status?: unknown }).status;
    if (status === 400 || status === 503) return c.text(error.message, status);
    if (error instanceof RangeError) return c.text(error.message, 400);
    return c.text(`Internal error: ${error.message}`, 500);
  });
  flowerApi(root, monitor);
  dashboardApi(root, monitor);
  root.get('/metrics', async (c) =>
    c.body(await monitor.metrics.text(), 200, { 'Content-Type': monitor.metrics.contentType }),
  );
  root.get('/healthcheck', (c) => c.text('OK'));
  staticPages(root, prefix);
  if (root !== http) {
    http.route(prefix, root);
    http.get('/', (c) => c.redirect(`${prefix}/`));
  }
  return http;
}

/** Builds a dashboard (see DashboardOptions); `start()` listens. */
export function createDashboard(options: DashboardOptions): Dashboard {
  return new Dashboard(options);
}
