/**
 * A task's crash is the task's failure, never the worker's. Tasks of the `async` and `solo` pools run in the
 * worker's own event loop, so an error thrown from one of their timers, a promise they reject and never handle, or
 * a call to `process.exit()` would otherwise reach Node's defaults and take the whole worker down with every task
 * running beside it.
 *
 * Each in-process task runs inside the app's task scope (app/context.ts), which its pool gives a `failEscaped`
 * function. While a worker runs, this module holds the process's `uncaughtException` and `unhandledRejection`
 * handlers: an error raised in a task's scope (Node keeps the scope across timers, immediates and promises) fails
 * that task (stored as FAILURE by the executor); one raised outside any task is logged and the worker keeps going.
 * `process.exit()` called inside a task's scope throws `TaskExitRefused` instead of exiting, which fails the task
 * the same way. Outside a task, `process.exit()` exits as usual.
 */
import { currentTaskScope } from '../app/context.js';
import type { Logger } from '../lifecycle/logger.js';

/** Thrown by `process.exit()` when a task calls it: the task fails, the worker does not exit. */
export class TaskExitRefused extends Error {
  override readonly name = 'TaskExitRefused';
  constructor(readonly code: number | string | null | undefined) {
    super(
      `process.exit(${code === undefined ? '' : String(code)}) called by a task was refused: a task cannot stop ` +
        'the worker (throw an error to fail the task, or use the worker shutdown control)',
    );
  }
}

interface Installed {
  readonly loggers: Logger[];
  readonly restore: () => void;
}

let installed: Installed | undefined;

/** `Name: message` of an error, or the thrown value as text. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function escaped(how: string, error: unknown): void {
  const logger = installed?.loggers.at(-1);
  const scope = currentTaskScope();
  // The pool that set failEscaped fails its task and logs it under that task's name (an eager call made inside it
  // runs in a scope of its own, with the same failEscaped).
  if (scope?.failEscaped?.(error, how)) return;
  const where = scope?.failEscaped
    ? `in task ${scope.request.task}[${scope.request.id}] after it finished`
    : 'outside any task';
  logger?.error(
    { err: error },
    `Contained ${how} ${where} (${describeError(error)}); the worker keeps running`,
  );
}

/**
 * Holds the process handlers while a worker runs (several workers in one process share them; the last one to
 * stop gives them back). Returns the function that releases them.
 */
export function installContainment(logger: Logger): () => void {
  if (!installed) {
    const onException = (error: unknown): void => escaped('an uncaught exception', error);
    const onRejection = (reason: unknown): void => escaped('an unhandled rejection', reason);
    process.on('uncaughtException', onException);
    process.on('unhandledRejection', onRejection);
    // eslint-disable-next-line @typescript-eslint/unbound-method -- restored as it was
    const exit = process.exit;
    const guarded = function (this: NodeJS.Process, code?: number | string | null): never {
      if (currentTaskScope()?.failEscaped) throw new TaskExitRefused(code);
      return exit.call(this, code);
    } as typeof process.exit;
    process.exit = guarded;
    installed = {
      loggers: [],
      restore: () => {
        process.off('uncaughtException', onException);
        process.off('unhandledRejection', onRejection);
        if (process.exit === guarded) process.exit = exit;
      },
    };
  }
  const state = installed;
  state.loggers.push(logger);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    state.loggers.splice(state.loggers.indexOf(logger), 1);
    if (state.loggers.length === 0 && installed === state) {
      state.restore();
      installed = undefined;
    }
  };
}
