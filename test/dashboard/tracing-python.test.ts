/**
 * Traced messages stay interoperable: a Celeriac producer with OpenTelemetry tracing on (traceparent and
 * tracestate in the message headers) sends tasks to a Python Celery 5.2.6 worker, which runs them as usual and
 * sees the headers only as extra request fields.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, instrumentTracing } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { startPythonWorker, type PythonWorker } from '../support/python.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

const prefix = testPrefix('dashboard-tracing-py');
const queue = `tracing-py-${uuid().slice(0, 8)}`;
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const redis = testClient();
const app = new Celery('ts-traced-producer', {
  broker: REDIS_URL,
  backend: REDIS_URL,
  taskDefaultQueue: queue,
  brokerTransportOptions: { global_keyprefix: prefix },
  resultExpires: 600,
});
app.logger = silentLogger();
let python: PythonWorker;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  expect(await instrumentTracing(app)).toBe(true);
  python = await startPythonWorker({
    env: { INTEROP_BROKER: REDIS_URL, INTEROP_PREFIX: prefix, INTEROP_QUEUE: queue, INTEROP_PREFETCH: '4' },
    queues: [queue],
    name: `py-${uuid().slice(0, 6)}`,
  });
}, 60_000);

afterAll(async () => {
  await python?.stop();
  await app.close();
  await deletePrefix(redis, prefix);
  redis.disconnect();
  await provider.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
});

describe('a Python Celery worker', () => {
  it('runs tasks whose messages carry traceparent and tracestate', async () => {
    const traceparents: unknown[] = [];
    app.hooks.on('beforeTaskPublish', ({ headers }) => void traceparents.push(headers.traceparent));
    const tracer = trace.getTracer('test');
    const results = await tracer.startActiveSpan('producer', async (span) => {
      const sent = [
        await app.sendTask('interop.add', [2, 3]),
        await app.sendTask('interop.echo', [1], { k: 'v' }),
      ];
      span.end();
      return sent;
    });
    expect(await results[0]!.get({ timeout: 30 })).toBe(5);
    expect(await results[1]!.get({ timeout: 30 })).toEqual([[1], { k: 'v' }]);
    const published = exporter.getFinishedSpans().filter((s) => s.name.startsWith('apply_async/'));
    expect(published.map((s) => s.name).sort()).toEqual([
      'apply_async/interop.add',
      'apply_async/interop.echo',
    ]);
    expect(traceparents).toHaveLength(2);
    for (const header of traceparents) expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(python.output()).not.toMatch(/traceparent|Traceback/);
  });
});
