/**
 * Exceptions as Celery's JSON result backends store them (reference §2.7.3): `{exc_type, exc_message, exc_module}`,
 * read back as a plain RemoteTaskError (never a class looked up from backend data, see CVE-2021-23727).
 */
import { isCeleriacError, pythonModuleFor, RemoteTaskError } from '../errors.js';
import type { ExceptionInfo, JsonValue } from '../types.js';

/** Errors may carry the Python-style argument list they should be stored with (`exc_message`). */
interface WithPyArgs {
  pyArgs?: JsonValue[];
}

function toJsonSafe(value: unknown): JsonValue {
  try {
    return JSON.parse(JSON.stringify(value ?? null)) as JsonValue;
  } catch {
    return String(value);
  }
}

/** A RemoteTaskError, also one created by another copy of this package (brands survive, classes do not). */
function isRemote(error: unknown): error is RemoteTaskError {
  return isCeleriacError(error, 'RemoteTaskError') && typeof (error as RemoteTaskError).excType === 'string';
}

export function serializeException(error: unknown): ExceptionInfo {
  if (isRemote(error)) {
    return { exc_type: error.excType, exc_message: error.excArgs, exc_module: error.excModule };
  }
  if (error instanceof Error) {
    const pyArgs = (error as WithPyArgs).pyArgs;
    return {
      exc_type: error.name || error.constructor.name || 'Error',
      exc_message: pyArgs ? toJsonSafe(pyArgs) : error.message === '' ? [] : [error.message],
      exc_module: pythonModuleFor(error),
    };
  }
  // Something that is not an Error was thrown: keep its value visible.
  return {
    exc_type: 'Error',
    exc_message: [typeof error === 'string' ? error : toJsonSafe(error)],
    exc_module: null,
  };
}

/** The traceback text stored next to a failure: the JavaScript stack, or the error's string form. */
export function formatTraceback(error: unknown): string | null {
  if (isRemote(error)) return error.remoteTraceback;
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return null;
}

function isExceptionInfo(value: unknown): value is ExceptionInfo {
  return typeof value === 'object' && value !== null && typeof (value as ExceptionInfo).exc_type === 'string';
}

/**
 * Rebuilds a stored failure as a RemoteTaskError carrying the remote type, module, message and traceback. The
 * names are data: nothing is looked up by them, so a meta naming `os.system` (the payload Celery answers with
 * SecurityError) or `__proto__` gives an inert RemoteTaskError like any other.
 */
export function exceptionFromMeta(
  result: JsonValue,
  traceback: string | null,
  taskId: string,
): RemoteTaskError {
  if (isExceptionInfo(result)) {
    return new RemoteTaskError(
      result.exc_type,
      typeof result.exc_module === 'string' ? result.exc_module : null,
      result.exc_message ?? [],
      traceback,
      taskId,
    );
  }
  return new RemoteTaskError('Exception', null, [toJsonSafe(result)], traceback, taskId);
}
