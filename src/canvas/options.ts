/**
 * Calling options in a signature's dict form. Celery keeps a signature's `apply_async` options under `options`,
 * with Python's snake_case names (`task_id`, `link_error`, `routing_key`); this maps our camelCase CallOptions to
 * that form, so a signature built here reads the same to a Python worker.
 */
import { toSignatureDict } from '../app/publish.js';
import type { CallOptions, SignatureLike } from '../app/task.js';
import { formatAwareIso } from '../protocol/time.js';
import type { SignatureDict } from '../protocol/message.js';
import type { JsonObject, JsonValue } from '../types.js';

/** camelCase CallOptions key -> the snake_case key Celery stores in `options`. */
const SNAKE: Readonly<Record<string, string>> = {
  taskId: 'task_id',
  routingKey: 'routing_key',
  exchangeType: 'exchange_type',
  timeLimit: 'time_limit',
  softTimeLimit: 'soft_time_limit',
  ignoreResult: 'ignore_result',
  linkError: 'link_error',
  retryPolicy: 'retry_policy',
  deliveryMode: 'delivery_mode',
  groupId: 'group_id',
  groupIndex: 'group_index',
  rootId: 'root_id',
  parentId: 'parent_id',
  replyTo: 'reply_to',
};

const RETRY_POLICY: Readonly<Record<string, string>> = {
  maxRetries: 'max_retries',
  intervalStart: 'interval_start',
  intervalStep: 'interval_step',
  intervalMax: 'interval_max',
};

function sigList(value: SignatureLike | readonly SignatureLike[]): SignatureDict[] {
  const list = Array.isArray(value) ? (value as readonly SignatureLike[]) : [value as SignatureLike];
  return list.map((s) => structuredClone(toSignatureDict(s)));
}

function jsonValue(key: string, value: unknown): JsonValue {
  if (key === 'link' || key === 'linkError') return sigList(value as SignatureLike);
  if (key === 'chord') return structuredClone(toSignatureDict(value as SignatureLike));
  if (key === 'chain') return (value as SignatureLike[]).map((s) => structuredClone(toSignatureDict(s)));
  if (value instanceof Date) return formatAwareIso(value.getTime());
  if (key === 'eta' && typeof value === 'number') return formatAwareIso(value);
  if (key === 'retryPolicy' && typeof value === 'object' && value !== null) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) out[RETRY_POLICY[k] ?? k] = v as JsonValue;
    return out;
  }
  return value as JsonValue;
}

/** CallOptions as a signature's `options` dict (snake_case keys, signatures as dicts, dates as ISO strings). */
export function toSignatureOptions(options: CallOptions): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    out[SNAKE[key] ?? key] = jsonValue(key, value);
  }
  return out;
}

/** Appends signatures to a list option (`link`, `link_error`) of a dict, as Celery's `append_to_list_option`. */
export function appendListOption(
  dict: SignatureDict,
  key: 'link' | 'link_error',
  value: SignatureDict,
): void {
  const current = dict.options[key];
  const list = Array.isArray(current) ? current : current ? [current] : [];
  if (!list.some((v) => JSON.stringify(v) === JSON.stringify(value))) list.push(value);
  dict.options[key] = list;
}
