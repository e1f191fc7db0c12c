/**
 * What the dashboard needs from the monitoring plane, as narrow interfaces: `app.events` (the event receiver) and
 * `app.control` (remote control) satisfy them, and tests can hand in their own. The dashboard sends Celery's
 * control commands by name through `broadcast`, so it works the same against Celeriac and Python workers.
 */
import type { JsonValue } from '../index.js';

export type EventHandler = (event: Readonly<Record<string, JsonValue>>) => void;

export interface EventReceiverPort {
  /** Resolves once subscribed. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface EventsPort {
  receiver(
    handlers: Record<string, EventHandler>,
    options?: { queue?: string; wakeup?: boolean },
  ): EventReceiverPort;
}

/** Replies per node name. */
export type Replies = Record<string, JsonValue>;

export interface InspectPort {
  stats(): Promise<Replies>;
  activeQueues(): Promise<Replies>;
  registered(): Promise<Replies>;
  scheduled(): Promise<Replies>;
  active(): Promise<Replies>;
  reserved(): Promise<Replies>;
  revoked(): Promise<Replies>;
  conf(): Promise<Replies>;
}

export interface BroadcastOptions {
  arguments?: Record<string, JsonValue>;
  destination?: string[];
  reply?: boolean;
  /** Seconds. */
  timeout?: number;
}

export interface ControlPort {
  inspect(options?: { destination?: string[]; timeout?: number }): InspectPort;
  /** Celery's `broadcast`: with `reply`, the replies as a list of `{node: reply}` (or one object by node). */
  broadcast(command: string, options?: BroadcastOptions): Promise<unknown>;
}

/** One object by node from a broadcast's replies, whichever of Celery's two shapes they come in. */
export function repliesByNode(replies: unknown): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  const add = (value: unknown): void => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      Object.assign(out, value as Record<string, JsonValue>);
    }
  };
  if (Array.isArray(replies)) replies.forEach(add);
  else add(replies);
  return out;
}
