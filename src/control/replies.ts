/** The shapes of remote-control replies, as Celery 5.2 sends them (reference §2.9) and Celeriac workers answer. */
import type { JsonObject, JsonValue } from '../types.js';

/** Control commands, `ping` and `report`: `{"ok": ...}` or `{"error": ...}`. */
export type ControlReply = { ok: JsonValue } | { error: JsonValue };

/** An entry of `active` and `reserved` (Celery's `Request.info()`). */
export interface RequestInfoReply {
  id: string;
  name: string;
  args: JsonValue;
  kwargs: JsonValue;
  type: string;
  hostname: string;
  time_start: number | null;
  acknowledged: boolean;
  delivery_info: { exchange: string; routing_key: string; priority: number | null; redelivered: boolean };
  worker_pid: number | null;
}

/** An entry of `scheduled`: the ETA (ISO 8601), the timer priority and the request. */
export interface ScheduledReply {
  eta: string | null;
  priority: number;
  request: RequestInfoReply;
}

/** `query_task`: `{id: [state, info]}`. */
export type QueryTaskReply = Record<string, [string, RequestInfoReply]>;

/** `stats` (Celery's keys; `rusage` where Node has it). */
export interface StatsReply extends JsonObject {
  total: Record<string, number>;
  pid: number;
  clock: string;
  uptime: number;
  pool: JsonObject;
  broker: JsonObject;
  prefetch_count: number;
  rusage: JsonObject;
}

/** `active_queues`: kombu's `Queue.as_dict(recurse=True)`. */
export interface ActiveQueue extends JsonObject {
  name: string;
  exchange: JsonObject;
  routing_key: string;
  durable: boolean;
  exclusive: boolean;
  auto_delete: boolean;
  no_ack: boolean;
}

export interface ClockReply {
  clock: number;
}

/** mingle's `hello`: the revoked ids (`{id: [time, id]}`) and the clock. */
export interface HelloReply {
  revoked: Record<string, [number, string]>;
  clock: number;
}
