/** Building and reading Celery's task meta (reference §2.7.2), shared by every backend. */
import { formatTraceback, serializeException } from '../protocol/exception.js';
import { formatNaiveUtcIso } from '../protocol/time.js';
import {
  EXCEPTION_STATES,
  isReadyState,
  States,
  type JsonValue,
  type ResultMeta,
  type TaskState,
} from '../types.js';

/** Request fields that go into a stored meta: membership always, the rest with `resultExtended`. */
export interface MetaRequest {
  taskId: string;
  groupId?: string | null | undefined;
  parentId?: string | null | undefined;
  name?: string | null | undefined;
  args?: JsonValue | undefined;
  kwargs?: JsonValue | undefined;
  worker?: string | null | undefined;
  retries?: number | undefined;
  queue?: string | null | undefined;
}

export interface MetaInput {
  state: TaskState;
  /** The task's return value, an error for exception states, or the meta of a custom state. */
  result: unknown;
  traceback?: string | null | undefined;
  children?: JsonValue[] | undefined;
  request: MetaRequest;
  extended?: boolean | undefined;
  /** Milliseconds since the epoch; defaults to now. */
  now?: number | undefined;
}

function toJson(value: unknown): JsonValue {
  if (value === undefined) return null;
  return value as JsonValue;
}

export function buildMeta(input: MetaInput): ResultMeta {
  const exceptional = EXCEPTION_STATES.has(input.state) && input.result instanceof Error;
  const meta: ResultMeta = {
    status: input.state,
    result: exceptional ? (serializeException(input.result) as unknown as JsonValue) : toJson(input.result),
    traceback:
      input.traceback !== undefined ? input.traceback : exceptional ? formatTraceback(input.result) : null,
    children: input.children ?? [],
    date_done: isReadyState(input.state) ? formatNaiveUtcIso(input.now ?? Date.now()) : null,
    task_id: input.request.taskId,
  };
  const r = input.request;
  if (r.groupId) meta.group_id = r.groupId;
  if (r.parentId) meta.parent_id = r.parentId;
  if (input.extended) {
    meta.name = r.name ?? null;
    meta.args = r.args ?? null;
    meta.kwargs = r.kwargs ?? null;
    meta.worker = r.worker ?? null;
    meta.retries = r.retries ?? 0;
    meta.queue = r.queue ?? null;
  }
  return meta;
}

/** The meta a missing key stands for. */
export function pendingMeta(taskId: string): ResultMeta {
  return {
    status: States.PENDING,
    result: null,
    traceback: null,
    children: [],
    date_done: null,
    task_id: taskId,
  };
}

/** Whether `next` may replace `stored`: anything may, except over a stored SUCCESS. */
export function mayOverwrite(stored: ResultMeta | null): boolean {
  return stored?.status !== States.SUCCESS;
}
