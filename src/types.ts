/**
 * Shared leaf types: task states, JSON values and the result meta that every backend stores.
 * Names and precedence follow `celery/states.py` (Celery 5.2).
 */

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** The built-in states; custom states (for example `PROGRESS`) are any other upper-case string. */
export const States = {
  PENDING: 'PENDING',
  RECEIVED: 'RECEIVED',
  STARTED: 'STARTED',
  SUCCESS: 'SUCCESS',
  FAILURE: 'FAILURE',
  REVOKED: 'REVOKED',
  REJECTED: 'REJECTED',
  RETRY: 'RETRY',
  IGNORED: 'IGNORED',
} as const;

export type BuiltinState = (typeof States)[keyof typeof States];
/** A task state: one of Celery's built-in states or a custom one such as `PROGRESS`. */
export type TaskState = BuiltinState | (string & {});

/** States after which a task does not change any more. */
export const READY_STATES: ReadonlySet<string> = new Set([States.SUCCESS, States.FAILURE, States.REVOKED]);
/** States whose stored result is an exception. */
export const EXCEPTION_STATES: ReadonlySet<string> = new Set([States.RETRY, States.FAILURE, States.REVOKED]);
/** States that `get()` re-raises. */
export const PROPAGATE_STATES: ReadonlySet<string> = new Set([States.FAILURE, States.REVOKED]);

const PRECEDENCE = [
  States.SUCCESS,
  States.FAILURE,
  null, // custom and unknown states sit here
  States.REVOKED,
  States.STARTED,
  States.RECEIVED,
  States.REJECTED,
  States.RETRY,
  States.PENDING,
] as const;

/** Lower is stronger, as `celery.states.precedence`. */
export function statePrecedence(state: string): number {
  const index = (PRECEDENCE as readonly (string | null)[]).indexOf(state);
  return index === -1 ? PRECEDENCE.indexOf(null) : index;
}

export function isReadyState(state: string): boolean {
  return READY_STATES.has(state);
}

/** The serialized form of an exception, as Celery's JSON backends store it (reference §2.7.3). */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: JsonValue;
  exc_module: string | null;
}

/** `[[id, parent | null], null]` for a task, `[[groupId, parent], [children...]]` for a group (§2.7.4). */
export type ResultTuple = [[string, ResultTuple | null], ResultTuple[] | null];

/**
 * Task meta exactly as Celery stores it under `celery-task-meta-<id>` (reference §2.7.2).
 * Snake-case field names are the wire format; do not rename them.
 */
export interface ResultMeta {
  status: TaskState;
  result: JsonValue;
  traceback: string | null;
  children: JsonValue[];
  date_done: string | null;
  task_id: string;
  group_id?: string | null;
  parent_id?: string | null;
  /** `resultExtended` fields. */
  name?: string | null;
  args?: JsonValue;
  kwargs?: JsonValue;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
}
