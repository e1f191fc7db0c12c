/**
 * OpenTelemetry tracing, through the app's hooks only: publishing a task opens a short PRODUCER span
 * (`apply_async/<task>`) and writes its W3C context into the message headers (`traceparent`, `tracestate`); the
 * worker continues that trace in one CONSUMER span per run (`run/<task>`, attributes: task name, id, retries, queue,
 * worker, final state). A task published while another runs (a retry, a chain's next link, a group or chord
 * sent from a task, the chord body) gets the running task's span as parent, so a whole canvas is one trace.
 *
 * `@opentelemetry/api` is an optional peer dependency, loaded with a dynamic import: without it
 * `instrumentTracing()` resolves false and installs nothing, so there is no cost at all. With it but without an
 * SDK, the API's no-op tracer makes every span free and non-recording. Python Celery ignores headers it does not
 * know (they land in `request` as extra attributes), so traced messages stay interoperable.
 */
import type * as Otel from '@opentelemetry/api';
import type { Celery } from './celery.js';
import { maybeCurrentTask } from './current-task.js';

type Api = typeof Otel;

export interface TracingOptions {
  /** Name of the tracer (default `celeriac`). */
  readonly tracerName?: string;
  /** How many finished task spans are remembered as parents for follow-ups (default 10,000). */
  readonly maxRemembered?: number;
}

const HEADER_KEYS = ['traceparent', 'tracestate'] as const;

let loading: Promise<Api | null> | undefined;

/** `@opentelemetry/api`, or null when it is not installed (tried once per process). */
function loadApi(): Promise<Api | null> {
  const name = '@opentelemetry/api';
  loading ??= import(name).then(
    (api: Api) => api,
    () => null,
  );
  return loading;
}

const instrumented = new WeakSet<Celery>();

/**
 * Traces the app's task publishing and (in a worker) its task runs. Resolves true when OpenTelemetry's API is
 * installed and the hooks are in place, false otherwise. Idempotent per app.
 */
export async function instrumentTracing(app: Celery, options: TracingOptions = {}): Promise<boolean> {
  const api = await loadApi();
  if (api === null) return false;
  if (instrumented.has(app)) return true;
  instrumented.add(app);
  new TaskTracing(app, api, options).install();
  return true;
}

type Carrier = Record<string, unknown>;

/** Reads and writes the W3C headers on a message's header table. */
const HEADERS: Otel.TextMapGetter<Carrier> & Otel.TextMapSetter<Carrier> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => {
    const value = headers[key];
    return typeof value === 'string' ? value : undefined;
  },
  set: (headers, key, value) => {
    headers[key] = value;
  },
};

class TaskTracing {
  private readonly tracer: Otel.Tracer;
  /**
   * The latest run's span of each task id, running or finished (a parent for late follow-ups; bounded), and the
   * span of each attempt by `id:retries` until it ends (a retry's next attempt can start before the first ends).
   */
  private readonly runs = new Map<string, Otel.Span>();
  private readonly attempts = new Map<string, Otel.Span>();
  private readonly publishing = new Map<string, Otel.Span>();
  private readonly maxRemembered: number;

  constructor(
    private readonly app: Celery,
    private readonly api: Api,
    options: TracingOptions,
  ) {
    this.tracer = api.trace.getTracer(options.tracerName ?? 'celeriac');
    this.maxRemembered = options.maxRemembered ?? 10_000;
  }

  install(): void {
    const hooks = this.app.hooks;
    hooks.on('beforeTaskPublish', (p) => this.beforePublish(p.taskId, p.taskName, p.headers, p.routingKey));
    hooks.on('afterTaskPublish', (p) => this.endPublish(p.taskId));
    hooks.on('taskPrerun', (p) => this.startRun(p.taskId, p.taskName, p.request));
    hooks.on('taskPostrun', (p) => this.endRun(p.taskId, p.state, p.request.retries));
  }

  /** The parent of a message being published: the running task, or the task named as its parent, or the active context. */
  private parentContext(headers: Record<string, unknown>): Otel.Context {
    const api = this.api;
    const running = maybeCurrentTask()?.request.id;
    const parentId = typeof headers.parent_id === 'string' ? headers.parent_id : undefined;
    const span = (running && this.runs.get(running)) || (parentId && this.runs.get(parentId)) || undefined;
    return span ? api.trace.setSpan(api.context.active(), span) : api.context.active();
  }

  private beforePublish(
    taskId: string,
    taskName: string,
    headers: Record<string, unknown>,
    routingKey: string,
  ): void {
    const api = this.api;
    const span = this.tracer.startSpan(
      `apply_async/${taskName}`,
      {
        kind: api.SpanKind.PRODUCER,
        attributes: {
          'celery.action': 'apply_async',
          'celery.task.name': taskName,
          'celery.task.id': taskId,
          'messaging.system': 'celery',
          'messaging.destination.name': routingKey,
        },
      },
      this.parentContext(headers),
    );
    this.publishing.set(taskId, span);
    api.propagation.inject(api.trace.setSpan(api.context.active(), span), headers, HEADERS);
  }

  private endPublish(taskId: string): void {
    this.publishing.get(taskId)?.end();
    this.publishing.delete(taskId);
  }

  private startRun(
    taskId: string,
    taskName: string,
    request: {
      headers: Readonly<Record<string, unknown>>;
      retries: number;
      queue: string | null;
      hostname: string;
    },
  ): void {
    const api = this.api;
    const incoming: Record<string, unknown> = {};
    for (const key of HEADER_KEYS)
      if (typeof request.headers[key] === 'string') incoming[key] = request.headers[key];
    const parent = api.propagation.extract(api.context.active(), incoming, HEADERS);
    const span = this.tracer.startSpan(
      `run/${taskName}`,
      {
        kind: api.SpanKind.CONSUMER,
        attributes: {
          'celery.action': 'run',
          'celery.task.name': taskName,
          'celery.task.id': taskId,
          'celery.task.retries': request.retries,
          'celery.worker': request.hostname,
          'messaging.system': 'celery',
          ...(request.queue ? { 'messaging.destination.name': request.queue } : {}),
        },
      },
      parent,
    );
    this.runs.delete(taskId);
    this.runs.set(taskId, span);
    this.attempts.set(`${taskId}:${request.retries}`, span);
    for (const map of [this.runs, this.attempts]) {
      if (map.size <= this.maxRemembered) continue;
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
  }

  private endRun(taskId: string, state: string, retries: number): void {
    const key = `${taskId}:${retries}`;
    const span = this.attempts.get(key);
    this.attempts.delete(key);
    if (span === undefined) return;
    span.setAttribute('celery.state', state);
    if (state === 'FAILURE') span.setStatus({ code: this.api.SpanStatusCode.ERROR });
    span.end();
  }
}
