/**
 * OpenTelemetry trace propagation with the SDK's in-memory exporter: a chain, a group, a chord and a retry, sent
 * inside one producer span and run by a worker, all end up in that one trace, each run span the child of the
 * span that published it, with the task's attributes.
 */
import { context, propagation, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, chord, currentTask, group, instrumentTracing } from '../../src/index.js';
import { createTestApp, startTestWorker } from '../../src/testing/index.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
});

async function setup() {
  const ns = `tracing-${Math.random().toString(36).slice(2)}`;
  const app = createTestApp({ broker: `memory://${ns}`, backend: `memory://${ns}`, taskDefaultQueue: ns });
  expect(await instrumentTracing(app)).toBe(true);
  let attempts = 0;
  const tasks = {
    add: app.task('tr.add', (x: number, y: number) => x + y),
    tsum: app.task('tr.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0)),
    flaky: app.task('tr.flaky', () => {
      attempts += 1;
      if (attempts === 1) return currentTask().retry({ countdown: 0.01 });
      return attempts;
    }),
  };
  const worker = await startTestWorker(app, { concurrency: 4 });
  return {
    app,
    ...tasks,
    async stop() {
      await worker.stop();
      await app.close();
    },
  };
}

/** Runs `send` inside a producer span; returns the spans of that trace once `done` resolved. */
async function traced(send: () => Promise<unknown>): Promise<{ root: SpanContext; spans: ReadableSpan[] }> {
  const tracer = trace.getTracer('test');
  let root!: SpanContext;
  await tracer.startActiveSpan('producer', async (span) => {
    root = span.spanContext();
    await send();
    span.end();
  });
  await provider.forceFlush();
  return { root, spans: exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === root.traceId) };
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const byId = (spans: ReadableSpan[]) => new Map(spans.map((s) => [s.spanContext().spanId, s]));

describe('OpenTelemetry tracing', () => {
  it('continues a chain in one trace: each link runs under the span that published it', async () => {
    const t = await setup();
    try {
      const { root, spans } = await traced(async () => {
        const result = await chain(t.add.s(1, 2), t.add.s(3), t.add.s(4)).applyAsync();
        expect(await result.get({ timeout: 15 })).toBe(10);
      });
      const runs = spans.filter((s) => s.name === 'run/tr.add');
      expect(runs).toHaveLength(3);
      const index = byId(spans);
      // The first publish is the producer span's child; each next link's publish is the previous run's child.
      const first = spans.find((s) => s.name === 'apply_async/tr.add' && parentOf(s) === root.spanId);
      expect(first).toBeDefined();
      for (const run of runs) {
        const publish = index.get(parentOf(run)!);
        expect(publish?.name).toBe('apply_async/tr.add');
        expect(run.attributes['celery.task.name']).toBe('tr.add');
        expect(run.attributes['celery.state']).toBe('SUCCESS');
        expect(typeof run.attributes['celery.task.id']).toBe('string');
        expect(run.attributes['celery.worker']).toMatch(/@/);
        expect(run.attributes['messaging.destination.name']).toMatch(/^tracing-/);
      }
      const chained = runs.filter(
        (run) => index.get(parentOf(index.get(parentOf(run)!)!)!)?.name === 'run/tr.add',
      );
      expect(chained).toHaveLength(2);
    } finally {
      await t.stop();
    }
  });

  it('puts a group and a chord (header and body) in the producer trace', async () => {
    const t = await setup();
    try {
      const { spans } = await traced(async () => {
        const g = await group([t.add.s(1, 1), t.add.s(2, 2)]).applyAsync();
        expect(await g.get({ timeout: 15 })).toEqual([2, 4]);
        const c = await chord([t.add.s(1, 2), t.add.s(3, 4)], t.tsum.s()).applyAsync();
        expect(await c.get({ timeout: 15 })).toBe(10);
      });
      expect(spans.filter((s) => s.name === 'run/tr.add')).toHaveLength(4);
      const body = spans.find((s) => s.name === 'run/tr.tsum');
      expect(body).toBeDefined();
      // The body runs under the span of its publish, in the same trace as the header.
      const publish = byId(spans).get(parentOf(body!)!);
      expect(publish?.name).toBe('apply_async/tr.tsum');
    } finally {
      await t.stop();
    }
  });

  it('follows a retry: the second attempt runs under the first one', async () => {
    const t = await setup();
    try {
      const { spans } = await traced(async () => {
        expect(await (await t.flaky.delay()).get({ timeout: 15 })).toBe(2);
      });
      const runs = spans
        .filter((s) => s.name === 'run/tr.flaky')
        .sort(
          (a, b) => Number(a.attributes['celery.task.retries']) - Number(b.attributes['celery.task.retries']),
        );
      expect(runs.map((r) => [r.attributes['celery.task.retries'], r.attributes['celery.state']])).toEqual([
        [0, 'RETRY'],
        [1, 'SUCCESS'],
      ]);
      const index = byId(spans);
      expect(parentOf(index.get(parentOf(runs[1]!)!)!)).toBe(runs[0]!.spanContext().spanId);
    } finally {
      await t.stop();
    }
  });
});
