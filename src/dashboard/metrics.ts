/**
 * Prometheus metrics with Flower's names and labels (flower/events.py `PrometheusMetrics`), so that Grafana
 * dashboards made for Flower work unchanged, plus Celeriac's `celeriac_queue_length{queue}`. Each dashboard has
 * its own registry (two in one process, as in tests, do not collide).
 *
 * One difference from Flower, on purpose: `flower_worker_online` is computed at scrape time from the heartbeats
 * (a worker whose heartbeats stopped reads 0), where Flower only flips it on worker-online/offline events and so
 * keeps a killed worker online forever.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventsState, JsonValue } from '../index.js';

/** Flower's default `--task_runtime_metric_buckets` (prometheus_client's defaults). */
const RUNTIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

export class DashboardMetrics {
  readonly registry = new Registry();
  private readonly events: Counter<'worker' | 'type' | 'task'>;
  private readonly runtime: Histogram<'worker' | 'task'>;
  private readonly prefetchTime: Gauge<'worker' | 'task'>;
  private readonly prefetched: Gauge<'worker' | 'task'>;
  private readonly executing: Gauge<'worker'>;
  private readonly queueLength: Gauge<'queue'>;

  constructor(state: EventsState, queueLengths: () => Record<string, number>) {
    const registers = [this.registry];
    this.events = new Counter({
      name: 'flower_events_total',
      help: 'Number of events',
      labelNames: ['worker', 'type', 'task'],
      registers,
    });
    this.runtime = new Histogram({
      name: 'flower_task_runtime_seconds',
      help: 'Task runtime',
      labelNames: ['worker', 'task'],
      buckets: RUNTIME_BUCKETS,
      registers,
    });
    this.prefetchTime = new Gauge({
      name: 'flower_task_prefetch_time_seconds',
      help: 'The time the task spent waiting at the celery worker to be executed.',
      labelNames: ['worker', 'task'],
      registers,
    });
    this.prefetched = new Gauge({
      name: 'flower_worker_prefetched_tasks',
      help: 'Number of tasks of given type prefetched at a worker',
      labelNames: ['worker', 'task'],
      registers,
    });
    new Gauge({
      name: 'flower_worker_online',
      help: 'Worker online status',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        const now = state.time();
        for (const worker of state.workers.values()) {
          this.labels(worker.hostname).set(worker.isAlive(now) ? 1 : 0);
        }
      },
    });
    this.executing = new Gauge({
      name: 'flower_worker_number_of_currently_executing_tasks',
      help: 'Number of tasks currently executing at a worker',
      labelNames: ['worker'],
      registers,
    });
    this.queueLength = new Gauge({
      name: 'celeriac_queue_length',
      help: 'Messages waiting in the queue (the last sample the dashboard took)',
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        for (const [queue, length] of Object.entries(queueLengths())) this.labels(queue).set(length);
      },
    });
  }

  /**
   * Counts one event as Flower does (flower_events_total counts task events only, as Flower's), after the state has merged it (`task` is then the merged task). Flower's
   * rules: the prefetch gauges skip ETA tasks; the prefetch time is started - received, reset to 0 when done.
   */
  observe(event: Readonly<Record<string, JsonValue>>, state: EventsState): void {
    const worker = typeof event.hostname === 'string' ? event.hostname : '';
    const type = typeof event.type === 'string' ? event.type : '';
    if (type.startsWith('task-')) {
      const task = typeof event.uuid === 'string' ? state.getTask(event.uuid) : undefined;
      const name = (typeof event.name === 'string' && event.name) || task?.name || '';
      this.events.labels(worker, type, name).inc();
      const runtime = typeof event.runtime === 'number' ? event.runtime : 0;
      if (runtime) this.runtime.labels(worker, name).observe(runtime);
      if (task === undefined || task.eta) return;
      if (type === 'task-received' && task.received) this.prefetched.labels(worker, name).inc();
      if (type === 'task-started' && task.started && task.received) {
        this.prefetchTime.labels(worker, name).set(task.started - task.received);
        this.prefetched.labels(worker, name).dec();
      }
      if ((type === 'task-succeeded' || type === 'task-failed') && task.started && task.received) {
        this.prefetchTime.labels(worker, name).set(0);
      }
    } else if (type === 'worker-heartbeat' && typeof event.active === 'number') {
      this.executing.labels(worker).set(event.active);
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
