/**
 * What happens around one run of a task, in order, as `celery/app/trace.py build_tracer` does it. Shared by the
 * worker's executor and by eager runs, so that hooks and task handlers fire at the same points in both:
 *
 *   taskPrerun hook, STARTED (trackStarted, worker only), beforeStart handler, the task function, then
 *   SUCCESS:  callbacks and next chain link, store SUCCESS, onSuccess, taskSuccess hook, log, afterReturn
 *   FAILURE:  store FAILURE, errbacks, onFailure, taskFailure hook, log, afterReturn
 *   RETRY:    store RETRY, re-send the retry message, onRetry, taskRetry hook, log
 *   Reject / Ignore: log
 *   and always the taskPostrun hook last.
 *
 * A hook or handler that throws is logged and changes nothing. Storage policy (ignoreResult, eager storing) and
 * publishing live behind `TraceIO`, so the order is written once.
 */
import { isCeleriacError, type Retry } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import { formatTraceback, serializeException } from '../protocol/exception.js';
import { saferepr } from '../protocol/pyrepr.js';
import { States, type ResultTuple } from '../types.js';
import type { TaskRequest } from './context.js';
import type { HookName, HookPayloads, Hooks } from './hooks.js';
import type { TaskHandlers } from './task.js';

/** The task being traced: its name, handlers and request. */
export interface TraceTarget {
  readonly name: string;
  readonly handlers: Readonly<TaskHandlers>;
  readonly request: TaskRequest;
}

/** Side effects of a trace; the worker and eager runs each provide their own. */
export interface TraceIO {
  readonly hooks: Hooks;
  readonly logger: Logger;
  /** Stores a state (or skips it, by the caller's policy); resolves false when the write failed. */
  store(state: string, result: unknown, children?: ResultTuple[]): Promise<boolean>;
  /** Publishes link callbacks and the next chain link; returns their result tuples (`children`). */
  followUps(value: unknown): Promise<ResultTuple[]>;
  /** Publishes link errors. */
  errbacks(error: unknown): Promise<void>;
  /** Re-sends the message of a retry. */
  resend(retry: Retry): Promise<void>;
}

export type TracedState =
  | typeof States.SUCCESS
  | typeof States.FAILURE
  | typeof States.RETRY
  | typeof States.IGNORED
  | typeof States.REJECTED;

export interface TraceResult {
  readonly state: TracedState;
  /** The return value, or the error (the Retry, Reject or Ignore for those states). */
  readonly value: unknown;
  /** False when the state could not be written to the result backend. */
  readonly stored: boolean;
}

/** Runs one hook; errors are logged, never thrown. */
export async function emitHook<K extends HookName>(
  hooks: Hooks,
  logger: Logger,
  name: K,
  payload: HookPayloads[K],
): Promise<void> {
  if (!hooks.has(name)) return;
  for (const error of await hooks.emit(name, payload)) {
    logger.error({ err: error }, `${name} hook failed: ${(error as Error)?.message ?? String(error)}`);
  }
}

async function handler(
  io: TraceIO,
  target: TraceTarget,
  name: keyof TaskHandlers,
  call: () => void | Promise<void>,
): Promise<void> {
  try {
    await call();
  } catch (error) {
    io.logger.error(
      { err: error },
      `${name} handler of ${target.name}[${target.request.id}] failed: ${(error as Error)?.message ?? String(error)}`,
    );
  }
}

/** `ValueError('boom', 42)`: an error as Celery's events and logs show it (`safe_repr(exc)`). */
export function exceptionRepr(error: unknown): string {
  const info = serializeException(error);
  const args = Array.isArray(info.exc_message)
    ? info.exc_message.map((arg) => saferepr(arg, 1024)).join(', ')
    : saferepr(info.exc_message, 1024);
  return `${info.exc_type}(${args})`;
}

/** Something thrown that is not an Error is stored as one, keeping its value as the Python exception's args. */
export function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  const wrapped = new Error(typeof error === 'string' ? error : saferepr(error));
  (wrapped as { pyArgs?: unknown[] }).pyArgs = [error ?? null];
  return wrapped;
}

function label(target: TraceTarget): string {
  return `${target.request.shadow ?? target.name}[${target.request.id}]`;
}

/** Before the task function: the taskPrerun hook. */
export async function tracePrerun(io: TraceIO, target: TraceTarget): Promise<void> {
  const { request } = target;
  await emitHook(io.hooks, io.logger, 'taskPrerun', {
    taskId: request.id,
    taskName: target.name,
    args: request.args,
    kwargs: request.kwargs,
    request,
  });
}

/** Right before the task function: the beforeStart handler. */
export async function traceBeforeStart(io: TraceIO, target: TraceTarget): Promise<void> {
  const before = target.handlers.beforeStart;
  if (before) await handler(io, target, 'beforeStart', () => before.call(target.handlers, target.request));
}

/** Everything after the task function returned (`ok`) or threw, ending with the taskPostrun hook. */
export async function traceOutcome(
  io: TraceIO,
  target: TraceTarget,
  outcome: { ok: true; value: unknown } | { ok: false; error: unknown },
  runtime: number,
): Promise<TraceResult> {
  let result: TraceResult;
  if (outcome.ok) result = await onSuccess(io, target, outcome.value, runtime);
  else if (isCeleriacError(outcome.error, 'Retry'))
    result = await onRetry(io, target, outcome.error as Retry);
  else if (isCeleriacError(outcome.error, 'Ignore')) {
    io.logger.info(`Task ${label(target)} ignored`);
    result = { state: States.IGNORED, value: outcome.error, stored: true };
  } else if (isCeleriacError(outcome.error, 'Reject')) {
    io.logger.info(`Task ${label(target)} rejected: ${(outcome.error as Error).message}`);
    result = { state: States.REJECTED, value: outcome.error, stored: true };
  } else result = await onFailure(io, target, outcome.error, runtime);
  const { request } = target;
  if (io.hooks.has('taskPostrun'))
    await emitHook(io.hooks, io.logger, 'taskPostrun', {
      taskId: request.id,
      taskName: target.name,
      args: request.args,
      kwargs: request.kwargs,
      retval: result.value,
      state: result.state,
      request,
    });
  return result;
}

async function onSuccess(
  io: TraceIO,
  target: TraceTarget,
  value: unknown,
  runtime: number,
): Promise<TraceResult> {
  const { request, handlers } = target;
  let children: ResultTuple[] = [];
  try {
    // Callbacks are sent before SUCCESS is stored so that `children` lists them (celery/app/trace.py:481).
    children = await io.followUps(value);
  } catch (error) {
    io.logger.error(
      { err: error },
      `Could not send the callbacks of ${label(target)}: ${(error as Error).message}`,
    );
  }
  const stored = await io.store(States.SUCCESS, value, children);
  if (handlers.onSuccess) await handler(io, target, 'onSuccess', () => handlers.onSuccess!(value, request));
  if (io.hooks.has('taskSuccess')) {
    await emitHook(io.hooks, io.logger, 'taskSuccess', {
      taskId: request.id,
      taskName: target.name,
      result: value,
      request,
    });
  }
  if (io.logger.isLevelEnabled('info'))
    io.logger.info(`Task ${label(target)} succeeded in ${runtime}s: ${saferepr(value, 1024)}`);
  if (handlers.afterReturn) {
    await handler(io, target, 'afterReturn', () => handlers.afterReturn!(States.SUCCESS, value, request));
  }
  return { state: States.SUCCESS, value, stored };
}

async function onRetry(io: TraceIO, target: TraceTarget, retry: Retry): Promise<TraceResult> {
  const { request, handlers } = target;
  const exc = retry.exc ?? null;
  // RETRY is stored before the new message exists, so that the next run's state can never be overwritten by this
  // one's. Celery lists the re-sent message as a child of the run that retried (the RETRY meta's `children`).
  const children: ResultTuple[] = retry.sig ? [[[request.id, null], null]] : [];
  const stored = await io.store(States.RETRY, exc, children);
  if (retry.sig) {
    try {
      await io.resend(retry);
    } catch (error) {
      const failure = new Error(
        `Could not re-send ${label(target)} for its retry (${(error as Error).message}); recorded as a failure instead`,
        { cause: error },
      );
      return onFailure(io, target, failure, 0);
    }
  }
  if (handlers.onRetry) await handler(io, target, 'onRetry', () => handlers.onRetry!(exc, request));
  await emitHook(io.hooks, io.logger, 'taskRetry', {
    taskId: request.id,
    taskName: target.name,
    reason: retry,
    request,
  });
  io.logger.info(`Task ${label(target)} retry: ${retry.message}`);
  return { state: States.RETRY, value: retry, stored };
}

async function onFailure(
  io: TraceIO,
  target: TraceTarget,
  error: unknown,
  runtime: number,
): Promise<TraceResult> {
  const { request, handlers } = target;
  const stored = await io.store(States.FAILURE, asError(error));
  try {
    await io.errbacks(error);
  } catch (publishError) {
    io.logger.error({ err: publishError }, `Could not send the errbacks of ${label(target)}`);
  }
  const traceback = formatTraceback(error);
  if (handlers.onFailure) {
    await handler(io, target, 'onFailure', () => handlers.onFailure!(error, request, traceback));
  }
  await emitHook(io.hooks, io.logger, 'taskFailure', {
    taskId: request.id,
    taskName: target.name,
    error,
    args: request.args,
    kwargs: request.kwargs,
    traceback,
    request,
  });
  io.logger.error(
    { err: error instanceof Error ? error : undefined },
    `Task ${label(target)} raised unexpected: ${exceptionRepr(error)} after ${runtime}s`,
  );
  if (handlers.afterReturn) {
    await handler(io, target, 'afterReturn', () => handlers.afterReturn!(States.FAILURE, error, request));
  }
  return { state: States.FAILURE, value: error, stored };
}
