/**
 * `celeriac worker --metrics-port P`: a worker serving Prometheus `/metrics` itself, without a dashboard, with
 * the metric names a dashboard (and Flower) exports, counted from the worker's own hooks: events by type and task,
 * runtimes, prefetch time (received to started), tasks prefetched and executing now, and online = 1.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Celery } from '../index.js';

const RUNTIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

export class WorkerMetrics {
  readonly registry = new Registry();
  private server: Server | null = null;
  private readonly received = new Map<string, number>();
  private readonly started = new Map<string, number>();
  private readonly unsubscribe: (() => void)[] = [];

  /** `hostname()` is read at each event: the worker's node name is known once it started. */
  constructor(
    private readonly app: Celery,
    private readonly hostname: () => string,
  ) {
    const registers = [this.registry];
    const events = new Counter({
      name: 'flower_events_total',
      help: 'Number of events',
      labelNames: ['worker', 'type', 'task'],
      registers,
    });
    const runtime = new Histogram({
      name: 'flower_task_runtime_seconds',
      help: 'Task runtime',
      labelNames: ['worker', 'task'],
      buckets: RUNTIME_BUCKETS,
      registers,
    });
    const prefetchTime = new Gauge({
      name: 'flower_task_prefetch_time_seconds',
      help: 'The time the task spent waiting at the celery worker to be executed.',
      labelNames: ['worker', 'task'],
      registers,
    });
    const prefetched = new Gauge({
      name: 'flower_worker_prefetched_tasks',
      help: 'Number of tasks of given type prefetched at a worker',
      labelNames: ['worker', 'task'],
      registers,
    });
    const online = new Gauge({
      name: 'flower_worker_online',
      help: 'Worker online status',
      labelNames: ['worker'],
      registers,
    });
    const executing = new Gauge({
      name: 'flower_worker_number_of_currently_executing_tasks',
      help: 'Number of tasks currently executing at a worker',
      labelNames: ['worker'],
      registers,
    });
    const hooks = app.hooks;
    const count = (type: string, task: string) => events.labels(this.hostname(), type, task).inc();
    this.unsubscribe.push(
      hooks.on('workerReady', ({ hostname }) => online.labels(hostname).set(1)),
      hooks.on('workerShuttingDown', ({ hostname }) => online.labels(hostname).set(0)),
      hooks.on('taskReceived', ({ taskId, taskName }) => {
        count('task-received', taskName);
        this.received.set(taskId, performance.now());
        prefetched.labels(this.hostname(), taskName).inc();
      }),
      hooks.on('taskPrerun', ({ taskId, taskName }) => {
        count('task-started', taskName);
        const now = performance.now();
        const received = this.received.get(taskId);
        this.received.delete(taskId);
        if (received !== undefined) {
          prefetchTime.labels(this.hostname(), taskName).set((now - received) / 1000);
          prefetched.labels(this.hostname(), taskName).dec();
        }
        this.started.set(taskId, now);
        executing.labels(this.hostname()).inc();
      }),
      hooks.on('taskPostrun', ({ taskId, taskName }) => {
        const started = this.started.get(taskId);
        this.started.delete(taskId);
        if (started !== undefined)
          runtime.labels(this.hostname(), taskName).observe((performance.now() - started) / 1000);
        executing.labels(this.hostname()).dec();
      }),
      hooks.on('taskSuccess', ({ taskName }) => count('task-succeeded', taskName)),
      hooks.on('taskFailure', ({ taskName }) => count('task-failed', taskName)),
      hooks.on('taskRetry', ({ taskName }) => count('task-retried', taskName)),
      hooks.on('taskRevoked', ({ taskId, taskName }) => {
        count('task-revoked', taskName);
        if (this.received.delete(taskId)) prefetched.labels(this.hostname(), taskName).dec();
      }),
    );
  }

  /** Serves `/metrics` on `port` (0: any free port); resolves with the port. */
  async listen(port: number, address = '127.0.0.1'): Promise<number> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('Not found: the metrics are at /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
