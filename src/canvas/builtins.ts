/**
 * Celery's built-in tasks (`celery/app/builtins.py`), registered in every worker so that canvases sent from Python
 * run here: `celery.chord_unlock` (the polling chord join Python sends for backends without a native counter),
 * `celery.map`, `celery.starmap`, `celery.chunks`, `celery.accumulate`, `celery.backend_cleanup`, and the backward-compatible
 * `celery.chord`, `celery.group` and `celery.chain`.
 */
import type { Celery } from '../app/celery.js';
import type { TaskContext } from '../app/context.js';
import type { AnyTaskFn, TaskOptions } from '../app/task.js';
import { ChordError, NotRegistered, RemoteTaskError } from '../errors.js';
import type { SignatureDict } from '../protocol/message.js';
import { GroupResult, resultFromTuple } from '../result/group-result.js';
import type { JsonObject, JsonValue, ResultTuple } from '../types.js';
import { applyDict } from './apply.js';
import { chordError, reprStored } from './chord-join.js';
import { chordDict, groupDict, normalizeDict } from './freeze.js';

/** Celery's `result_chord_retry_interval` default: seconds between two `celery.chord_unlock` checks. */
const CHORD_RETRY_INTERVAL = 1;

function registerOnce(app: Celery, name: string, fn: AnyTaskFn, options: TaskOptions = {}): void {
  if (!app.tasks.has(name)) app.task(name, fn, options);
}

function taskNamed(app: Celery, sig: unknown, builtin: string) {
  const d = normalizeDict(sig, `${builtin} task`);
  const task = app.tasks.get(d.task);
  if (!task) throw new NotRegistered(d.task);
  return { task, d };
}

/** Registers the built-in tasks in `app` (those it does not define itself). Idempotent. */
export function registerBuiltinTasks(app: Celery): void {
  registerOnce(
    app,
    'celery.chord_unlock',
    async (
      ctx: TaskContext,
      groupId: string,
      callback: SignatureDict,
      interval: number | null,
      maxRetries: number | null,
      result: ResultTuple[] | null,
    ) => chordUnlock(app, ctx, { groupId, callback, interval, maxRetries, result: result ?? [] }),
    {
      bind: true,
      params: ['group_id', 'callback', 'interval', 'max_retries', 'result'],
      acceptsKwargs: true,
      maxRetries: null,
      defaultRetryDelay: CHORD_RETRY_INTERVAL,
      ignoreResult: true,
      typing: false,
    },
  );
  registerOnce(
    app,
    'celery.map',
    async (sig: SignatureDict, it: JsonValue[]) => {
      const { task } = taskNamed(app, sig, 'celery.map');
      const out: unknown[] = [];
      // As Celery's xmap: the task is called with the item alone (the signature's own args are not used).
      for (const item of it) out.push(await task.run(...([item] as never[])));
      return out;
    },
    { params: ['task', 'it'], typing: false },
  );
  registerOnce(
    app,
    'celery.starmap',
    async (sig: SignatureDict, it: JsonValue[][]) => {
      const { task } = taskNamed(app, sig, 'celery.starmap');
      const out: unknown[] = [];
      for (const item of it) out.push(await task.run(...(item as never[])));
      return out;
    },
    { params: ['task', 'it'], typing: false },
  );
  registerOnce(
    app,
    'celery.chunks',
    async (task: SignatureDict, it: JsonValue[], n: number) => {
      const sent = await applyDict(app, {
        task: 'celery.chunks',
        args: [],
        kwargs: { task, it, n },
        options: {},
        subtask_type: null,
        immutable: true,
      });
      return sent.asTuple();
    },
    { params: ['task', 'it', 'n'], typing: false },
  );
  registerOnce(
    app,
    'celery.accumulate',
    (...args: unknown[]) => {
      const extra = args.at(-1) as { index?: number | null };
      const values = args.slice(0, -1);
      return typeof extra.index === 'number' ? values[extra.index] : values;
    },
    { params: [], acceptsKwargs: true, typing: false },
  );
  registerOnce(
    app,
    'celery.chord',
    async (header: JsonValue, body: SignatureDict, partialArgs: JsonValue[] | null, extra: JsonObject) => {
      const tasks = Array.isArray(header) ? header : (normalizeDict(header).kwargs.tasks as JsonValue[]);
      const d = chordDict(groupDict(tasks.map((t) => normalizeDict(t))), normalizeDict(body));
      void extra;
      const sent = await applyDict(app, d, { args: partialArgs ?? [] });
      return sent.id;
    },
    { params: ['header', 'body', 'partial_args'], acceptsKwargs: true, typing: false },
  );
  registerOnce(
    app,
    'celery.group',
    async (tasks: SignatureDict[], result: ResultTuple, groupId: string, partialArgs: JsonValue[] | null) => {
      await Promise.all(
        tasks.map((t) =>
          applyDict(app, normalizeDict(t), { args: partialArgs ?? [], options: { group_id: groupId } }),
        ),
      );
      return result;
    },
    { params: ['tasks', 'result', 'group_id', 'partial_args', 'add_to_parent'], typing: false },
  );
  registerOnce(
    app,
    'celery.chain',
    () => {
      throw new Error('chain is not a real task');
    },
    { typing: false },
  );
  // As Celery's (celery/app/builtins.py add_backend_cleanup_task): deletes expired results from backends that do not
  // expire them themselves (capabilities.autoExpire false: the database backend). Beat runs it daily at 04:00.
  registerOnce(
    app,
    'celery.backend_cleanup',
    async () => {
      const backend = await app.getBackend();
      await backend.cleanup();
    },
    { params: [], typing: false },
  );
}

interface UnlockArgs {
  groupId: string;
  callback: SignatureDict;
  interval: number | null;
  maxRetries: number | null;
  result: ResultTuple[];
}

/**
 * `celery.chord_unlock`: checks whether the header is ready and retries (every `interval` seconds, forever by
 * default) until it is; then sends the body with the results, or fails it with the ChordError of the first failed
 * member.
 */
async function chordUnlock(app: Celery, ctx: TaskContext, a: UnlockArgs): Promise<void> {
  const body = normalizeDict(a.callback, 'chord_unlock callback');
  const deps = new GroupResult(
    a.groupId,
    a.result.map((t) => resultFromTuple(app, t)),
    app,
  );
  let ready: boolean;
  try {
    ready = await deps.ready();
  } catch (error) {
    return ctx.retry({ exc: error, countdown: a.interval ?? CHORD_RETRY_INTERVAL, maxRetries: a.maxRetries });
  }
  if (!ready) return ctx.retry({ countdown: a.interval ?? CHORD_RETRY_INTERVAL, maxRetries: a.maxRetries });
  const backend = await app.getBackend();
  const chordDeps = { app, backend, logger: app.logger };
  let values: unknown[];
  try {
    values = await deps.get({ timeout: 3 });
  } catch (error) {
    let culprit: string | undefined;
    for (const r of deps.results) if (await r.failed()) culprit ??= r.id;
    // Python's `{exc!r}`: `ValueError('boom')` for a remote failure, as chord-join.ts words it.
    const repr =
      error instanceof RemoteTaskError
        ? reprStored({ exc_type: error.excType, exc_message: error.excArgs })
        : String(error);
    const reason = culprit ? `Dependency ${culprit} raised ${repr}` : repr;
    await chordError(chordDeps, body, new ChordError(reason));
    return;
  }
  try {
    await applyDict(app, body, { args: [values as JsonValue] });
  } catch (error) {
    await chordError(chordDeps, body, new ChordError(`Callback error: ${String(error)}`));
  }
}
