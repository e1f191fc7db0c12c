/**
 * Eager runs: `task.apply()` and `applyAsync()` with `taskAlwaysEager` (Celery's `Task.apply`,
 * `celery/app/task.py:741`). The task runs in this process through the same tracer as in a worker, so hooks and
 * task handlers fire as they would there; `retry()` re-runs it at once (countdowns are not waited for). What runs
 * next (link callbacks, the next chain link, link errors) is decided as in a worker (canvas/next.ts, reached through
 * the canvas port): it runs here too when its task is registered and `taskAlwaysEager` is on, else it is sent.
 * With `taskAlwaysEager` the arguments first make a serialize/deserialize round trip, as Celery does, so what
 * would not survive a broker fails here too.
 */
import { hostname } from 'node:os';
import { isCeleriacError, type Retry } from '../errors.js';
import { buildMeta } from '../backends/meta.js';
import { uuid } from '../protocol/ids.js';
import {
  decodeTaskMessage,
  encodeTaskMessage,
  type TaskMessage,
  type TaskMessageSpec,
} from '../protocol/message.js';
import { AcceptPolicy, type Serializer, type Serializers } from '../protocol/serializers/index.js';
import { EagerResult } from '../result/eager-result.js';
import { States, type JsonObject, type JsonValue, type ResultTuple } from '../types.js';
import { canvas } from './canvas-port.js';
import type { Celery } from './celery.js';
import { currentTaskScope, type TaskRequest } from './context.js';
import { prepareCall } from './publish.js';
import type { CallOptions, Task } from './task.js';
import { invokeTask } from './trace.js';
import { asError, emitHook, traceBeforeStart, traceOutcome, tracePrerun, type TraceIO } from './tracer.js';

type AnyTask = Task<never, unknown>;

/** The request an eager run sees: `isEager`, the local host name, and the calling options as a worker would. */
function buildRequest(
  app: Celery,
  task: AnyTask,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  options: CallOptions,
  roundTrip: boolean,
): TaskRequest {
  const taskId = options.taskId ?? uuid();
  const prepared = prepareCall(
    {
      conf: app.conf,
      router: app.router,
      oid: app.oid,
      origin: app.origin,
      now: Date.now(),
      scope: currentTaskScope(),
      taskId,
    },
    task.name,
    args,
    kwargs,
    task.callOptions(options),
  );
  const message = roundTrip
    ? roundTripMessage(
        prepared.spec,
        app.serializers.get(prepared.serializer),
        prepared.compression,
        app.serializers,
      )
    : specAsMessage(prepared.spec);
  return {
    id: message.id,
    task: task.name,
    args: message.args,
    kwargs: message.kwargs,
    retries: message.retries,
    eta: message.eta === null ? null : new Date(message.eta),
    expires: message.expires === null ? null : new Date(message.expires),
    group: message.group,
    groupIndex: message.groupIndex,
    rootId: message.rootId,
    parentId: message.parentId,
    hostname: hostname(),
    deliveryInfo: {
      exchange: prepared.routed.route.exchange,
      routingKey: prepared.routed.route.routingKey,
      priority: prepared.routed.priority,
      redelivered: false,
    },
    correlationId: message.id,
    replyTo: message.replyTo,
    headers: message.headers,
    timelimit: message.timelimit,
    origin: message.origin,
    ignoreResult: message.ignoreResult,
    isEager: true,
    shadow: message.shadow,
    embed: message.embed,
    queue: prepared.routed.queue?.name ?? null,
  };
}

/** Encodes and decodes the call, accepting the content type just produced (as Celery's eager round trip). */
function roundTripMessage(
  spec: TaskMessageSpec,
  serializer: Serializer,
  compression: string | null,
  serializers: Serializers,
): TaskMessage {
  const wire = encodeTaskMessage(spec, {
    serializer: serializer.name,
    serializers,
    compression,
    now: Date.now(),
  });
  return decodeTaskMessage(wire, new AcceptPolicy([serializer.contentType], serializers));
}

/** The call as a message, without serializing it (`apply()` takes any value, as Celery's does). */
function specAsMessage(spec: TaskMessageSpec): TaskMessage {
  const wire = encodeTaskMessage({ ...spec, args: [], kwargs: {} }, { serializer: 'json', now: Date.now() });
  const decoded = decodeTaskMessage(wire, new AcceptPolicy(['json']));
  return {
    ...decoded,
    args: spec.args as JsonValue[],
    kwargs: spec.kwargs as JsonObject,
    embed: decoded.embed,
  };
}

/** Runs the task here; with `retry()` it runs again at once with the retry's arguments, until it stops retrying. */
export async function applyEager<R>(
  app: Celery,
  task: AnyTask,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  options: CallOptions,
  roundTrip: boolean,
): Promise<EagerResult<R>> {
  let request = buildRequest(app, task, args, kwargs, options, roundTrip);
  for (;;) {
    const run = await runOnce(app, task, request);
    if (run.retry?.sig) {
      const sig = run.retry.sig;
      request = buildRequest(app, task, sig.args, sig.kwargs, sig.options, roundTrip);
      continue;
    }
    return run.result as EagerResult<R>;
  }
}

async function runOnce(
  app: Celery,
  task: AnyTask,
  request: TaskRequest,
): Promise<{ result: EagerResult; retry?: Retry }> {
  const conf = app.conf;
  const taskIgnores = task.options.ignoreResult ?? conf.taskIgnoreResult;
  const storeEager = conf.taskStoreEagerResult;
  const stores = (state: string): boolean => {
    if (state === States.FAILURE || state === States.RETRY) {
      return taskIgnores
        ? (task.options.storeErrorsEvenIfIgnored ?? conf.taskStoreErrorsEvenIfIgnored)
        : storeEager;
    }
    return storeEager && !taskIgnores && !request.ignoreResult;
  };
  const write = async (state: string, result: unknown, children?: ResultTuple[]): Promise<boolean> => {
    if (!stores(state)) return true;
    try {
      const backend = await app.getBackend();
      await backend.store(
        buildMeta({ state, result, request: { taskId: request.id, parentId: request.parentId }, children }),
      );
      return true;
    } catch (error) {
      app.logger.error({ err: error }, `Could not store the ${state} state of ${task.name}[${request.id}]`);
      return false;
    }
  };
  const io: TraceIO = {
    hooks: app.hooks,
    logger: app.logger,
    store: write,
    followUps: async (value) =>
      request.embed.callbacks || request.embed.chain ? canvas().afterSuccess(app, request, value) : [],
    errbacks: async () => {
      if (request.embed.errbacks) await canvas().afterFailure(app, request);
    },
    resend: async () => undefined,
  };
  const target = { name: task.name, handlers: task.options, request };
  await tracePrerun(io, target);
  await traceBeforeStart(io, target);
  const started = performance.now();
  const outcome = await invokeTask({
    name: task.name,
    fn: task.fn,
    options: task.options,
    request,
    signal: new AbortController().signal,
    updateState: async (state, meta) => {
      await write(state, meta);
    },
    sendEvent: async () => undefined,
  }).then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  const runtime = Number(((performance.now() - started) / 1000).toFixed(6));
  if (!outcome.ok && conf.taskEagerPropagates && !isCeleriacError(outcome.error, 'Retry')) {
    // taskEagerPropagates: the error reaches the caller as it is, nothing is stored (celery/app/trace.py on_error).
    await emitHook(app.hooks, app.logger, 'taskPostrun', {
      taskId: request.id,
      taskName: task.name,
      args: request.args,
      kwargs: request.kwargs,
      retval: outcome.error,
      state: States.FAILURE,
      request,
    });
    throw outcome.error;
  }
  const traced = await traceOutcome(io, target, outcome, runtime);
  const failed = traced.state === States.FAILURE || traced.state === States.RETRY;
  const meta = buildMeta({
    state: traced.state,
    result: failed ? asError(traced.value) : traced.value,
    request: { taskId: request.id, parentId: request.parentId },
  });
  const value = traced.state === States.RETRY ? ((traced.value as Retry).exc ?? null) : traced.value;
  const result = new EagerResult(request.id, app, meta, value);
  if (traced.state === States.RETRY) return { result, retry: traced.value as Retry };
  return { result };
}
