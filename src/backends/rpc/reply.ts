/**
 * The rpc backend's message body both ways. Celery's worker sends `{task_id, status, result, traceback,
 * children}` (`celery/backends/rpc.py _to_result`); Celeriac sends the full meta in that order (the same keys
 * first, then `date_done` and the membership and `resultExtended` fields), which Celery's client reads as well.
 */
import type { JsonValue, ResultMeta } from '../../types.js';
import { encodeJson } from '../../protocol/serializers/json.js';

export function replyBody(meta: ResultMeta): Buffer {
  const { task_id, status, result, traceback, children, ...rest } = meta;
  return Buffer.from(encodeJson({ task_id, status, result, traceback, children, ...rest }), 'utf8');
}

/** A received body as a ResultMeta (fields Celery does not send filled with their defaults), or null. */
export function normalizeReply(decoded: unknown, correlationId: string | undefined): ResultMeta | null {
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) return null;
  const body = decoded as Record<string, JsonValue>;
  const taskId = correlationId ?? (typeof body.task_id === 'string' ? body.task_id : undefined);
  if (typeof body.status !== 'string' || !taskId) return null;
  return {
    ...body,
    status: body.status,
    result: body.result ?? null,
    traceback: typeof body.traceback === 'string' ? body.traceback : null,
    children: Array.isArray(body.children) ? body.children : [],
    date_done: typeof body.date_done === 'string' ? body.date_done : null,
    task_id: taskId,
  };
}
