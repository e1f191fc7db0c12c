/**
 * Protocol v1 and "hybrid" bodies converted to v2, as `celery/worker/strategy.py` (`proto1_to_proto2`,
 * `hybrid_to_proto2`) does. A v1 body is an object carrying the task fields; a hybrid message has v2 headers and
 * a v1 body, and its headers win.
 */
import type { JsonValue } from '../types.js';
import { saferepr } from './pyrepr.js';

const V1_FIELDS = [
  'lang',
  'task',
  'id',
  'root_id',
  'parent_id',
  'group',
  'meth',
  'shadow',
  'eta',
  'expires',
  'retries',
  'timelimit',
  'argsrepr',
  'kwargsrepr',
  'origin',
] as const;

export function v1BodyToV2(
  body: Record<string, JsonValue>,
  headers: Record<string, JsonValue>,
  hybrid: boolean,
): { headers: Record<string, JsonValue>; body: JsonValue[]; protocol: 1 | 2 } {
  const merged: Record<string, JsonValue> = {};
  for (const field of V1_FIELDS) {
    const value = body[field];
    if (value !== undefined) merged[field] = value;
  }
  if (body.group_index !== undefined) merged.group_index = body.group_index;
  const args = body.args === undefined ? [] : body.args;
  const kwargs = body.kwargs === undefined ? {} : body.kwargs;
  if (!hybrid) {
    // proto1_to_proto2: `body['group'] = body['taskset']` when present, and argsrepr/kwargsrepr are computed
    // with saferepr (no length limit) from the decoded args, which are a list: `[2, 3]`, not `(2, 3)`.
    if (body.taskset !== undefined) merged.group = body.taskset;
    merged.argsrepr = saferepr(args);
    merged.kwargsrepr = saferepr(kwargs);
  }
  Object.assign(merged, headers);
  const embed = {
    callbacks: body.callbacks ?? null,
    errbacks: body.errbacks ?? null,
    chord: body.chord ?? null,
    chain: null,
  };
  return { headers: merged, body: [args, kwargs, embed], protocol: hybrid ? 2 : 1 };
}
