/**
 * `/metrics` parsed with a Prometheus text-format parser: Flower's metric names, types and labels (so Grafana
 * dashboards made for Flower keep working), values computed from the recorded Celery 5.2.6 stream, and
 * `celeriac_queue_length` from the broker.
 */
import parse from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { Celery, LamportClock, prepareEvent, splitEventBody } from '../../src/index.js';
import { createDashboard, WorkerMetrics } from '../../src/dashboard/index.js';
import { createTestApp, startTestWorker } from '../../src/testing/index.js';
import { bodyOf, stream } from '../fixtures/events/fixtures.js';

async function scrape() {
  const recording = stream();
  const end = recording.messages.at(-1)!.received_at;
  const queue = `metrics-test-${Math.random().toString(36).slice(2)}`;
  const app = new Celery('metrics-test', {
    broker: 'memory://',
    backend: 'memory://',
    taskDefaultQueue: queue,
  });
  // Seen from just after the recording, so the recorded workers are alive.
  const d = createDashboard({ app, queueInterval: 0, now: () => end });
  const clock = new LamportClock();
  for (const message of recording.messages) {
    for (const raw of splitEventBody(bodyOf(message)).events) {
      d.monitor.receive(prepareEvent(raw, { clock, now: message.received_at }));
    }
  }
  await app.sendTask('metrics.queued', [1]);
  await app.sendTask('metrics.queued', [2]);
  await d.monitor.sampleQueues();
  const response = await d.fetch(new Request('http://dashboard/metrics'));
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await response.text();
  const families = parse(text);
  await app.close();
  return { text, queue, families, byName: new Map(families.map((f) => [f.name, f])) };
}

describe('/metrics', () => {
  it("has Flower's metric families with Flower's types and labels", async () => {
    const { byName } = await scrape();
    const expected = {
      flower_events_total: ['COUNTER', ['worker', 'type', 'task']],
      flower_task_runtime_seconds: ['HISTOGRAM', ['worker', 'task']],
      flower_task_prefetch_time_seconds: ['GAUGE', ['worker', 'task']],
      flower_worker_prefetched_tasks: ['GAUGE', ['worker', 'task']],
      flower_worker_online: ['GAUGE', ['worker']],
      flower_worker_number_of_currently_executing_tasks: ['GAUGE', ['worker']],
      celeriac_queue_length: ['GAUGE', ['queue']],
    } as const;
    for (const [name, [type, labels]] of Object.entries(expected)) {
      const family = byName.get(name);
      expect(family?.type, name).toBe(type);
      expect(family!.metrics.length, name).toBeGreaterThan(0);
      // The parser folds a histogram's label sets into one sample: its labels are checked in the text below.
      if (type === 'HISTOGRAM') continue;
      for (const sample of family!.metrics)
        expect(Object.keys(sample.labels ?? {}).sort()).toEqual([...labels].sort());
    }
  });

  it('counts task events per worker, type and task, and observes runtimes', async () => {
    const { byName, text } = await scrape();
    const events = byName.get('flower_events_total')!.metrics;
    const count = (worker: string, type: string, task: string) =>
      Number(
        events.find((m) => m.labels?.worker === worker && m.labels.type === type && m.labels.task === task)
          ?.value ?? 0,
      );
    expect(count('evcap@capture', 'task-succeeded', 'events.add')).toBeGreaterThanOrEqual(5);
    expect(count('evcap@capture', 'task-failed', 'events.fail')).toBe(1);
    expect(events.every((m) => m.labels?.type?.startsWith('task-'))).toBe(true);
    expect(byName.get('flower_task_runtime_seconds')!.metrics[0]!.buckets).toBeDefined();
    const series = (suffix: string) =>
      Number(
        new RegExp(
          `^flower_task_runtime_seconds_${suffix}\\{worker="evcap@capture",task="events.add"\\} (\\S+)$`,
          'm',
        ).exec(text)?.[1],
      );
    expect(series('count')).toBeGreaterThanOrEqual(5);
    expect(series('sum')).toBeGreaterThan(0);
  });

  it('reports each worker online from its heartbeats, and the queue lengths from the broker', async () => {
    const { byName, queue } = await scrape();
    const online = Object.fromEntries(
      byName.get('flower_worker_online')!.metrics.map((m) => [m.labels!.worker, m.value]),
    );
    expect(Object.keys(online).sort()).toEqual(['evcap-solo@capture', 'evcap@capture']);
    const queues = byName.get('celeriac_queue_length')!.metrics;
    expect(queues.find((m) => m.labels?.queue === queue)?.value).toBe('2');
  });
});

describe('worker --metrics-port', () => {
  it("serves the worker's own metrics with Flower's names", async () => {
    const ns = `worker-metrics-${Math.random().toString(36).slice(2)}`;
    const app = createTestApp({ broker: `memory://${ns}`, backend: `memory://${ns}`, taskDefaultQueue: ns });
    const add = app.task('wm.add', (x: number, y: number) => x + y);
    const worker = await startTestWorker(app, { hostname: 'wm@test' });
    const metrics = new WorkerMetrics(app, () => 'wm@test');
    const port = await metrics.listen(0);
    try {
      for (let i = 0; i < 3; i += 1) expect(await (await add.delay(i, 1)).get({ timeout: 15 })).toBe(i + 1);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const byName = new Map(parse(text).map((f) => [f.name, f]));
      const events = byName.get('flower_events_total')!.metrics;
      const count = (type: string) =>
        Number(
          events.find(
            (m) => m.labels?.type === type && m.labels.task === 'wm.add' && m.labels.worker === 'wm@test',
          )?.value,
        );
      expect([count('task-received'), count('task-started'), count('task-succeeded')]).toEqual([3, 3, 3]);
      expect(text).toMatch(/^flower_task_runtime_seconds_count\{worker="wm@test",task="wm.add"\} 3$/m);
      expect(byName.get('flower_worker_number_of_currently_executing_tasks')!.metrics[0]!.value).toBe('0');
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await metrics.close();
      await worker.stop();
      await app.close();
    }
  });
});
