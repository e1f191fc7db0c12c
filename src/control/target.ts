/**
 * What the remote-control commands need from a worker. The worker implements it (worker/control-target.ts); the
 * commands (commands.ts) only speak to it, so control/ never reaches into the worker's parts.
 */
import type { Celery } from '../app/celery.js';
import type { JsonObject, JsonValue } from '../types.js';

/** One revoked id and when it was revoked (ms since the epoch). */
export type RevokeEntry = readonly [id: string, at: number];

export interface ControlTarget {
  readonly hostname: string;
  readonly app: Celery;
  /** `inspect stats`. */
  stats(): JsonObject;
  /** `inspect active [safe]`, `reserved`, `scheduled` (Celery's `Request.info()` shapes). */
  active(safe: boolean): JsonValue[];
  reserved(): JsonValue[];
  scheduled(): JsonValue[];
  /** Revoked ids held now. */
  revoked(): string[];
  /** Revoked ids with when they were revoked (mingle, persistence). */
  revokedEntries(): RevokeEntry[];
  /** Registered task names (with `builtins`, Celery's `celery.*` ones too). */
  registered(builtins: boolean): string[];
  /** A task's attribute for `inspect registered <attr...>`, as Celery prints it, or undefined. */
  taskAttribute(name: string, attribute: string): string | undefined;
  /** `inspect query_task`: `{id: [state, info]}` for the ids this worker holds. */
  queryTask(ids: readonly string[]): JsonObject;
  /** `inspect active_queues`: kombu's `Queue.as_dict()` shapes. */
  activeQueues(): JsonValue[];
  /**
   * Revokes ids (kept for Celery's 3 h); with `terminate`, ends those running here with `signal` (the pool's way)
   * and returns their ids.
   */
  revoke(ids: readonly string[], terminate: boolean, signal: string): Promise<string[]>;
  /** Merges ids revoked elsewhere (mingle's `hello`), with when they were revoked. */
  mergeRevoked(entries: Iterable<RevokeEntry>): void;
  setRateLimit(task: string, rate: string | number | null): void;
  setTimeLimit(task: string, soft: number | null, hard: number | null): void;
  addConsumer(
    queue: string,
    exchange: string | null,
    type: string | null,
    routingKey: string | null,
  ): Promise<void>;
  cancelConsumer(queue: string): Promise<void>;
  poolGrow(n: number): void;
  poolShrink(n: number): void;
  /** Autoscale bounds now, or null without an autoscaler. */
  readonly autoscaling: boolean;
  setAutoscale(max: number | null, min: number | null): [number, number];
  /** Starts a warm shutdown (after the reply is sent). */
  shutdown(): void;
  /** Task events on or off; returns whether it changed anything. */
  setTaskEvents(enabled: boolean): boolean;
  /** Sends a worker-heartbeat now (`heartbeat`). */
  heartbeatNow(): void;
}
