/**
 * Celery's remote-control (pidbox) messages, as kombu 5.2 sends them (reference §2.9, `kombu/pidbox.py`): requests
 * go to the `celery.pidbox` fanout exchange, each worker consumes them from its own auto-deleting queue
 * `<node>.celery.pidbox`, and replies go to the `reply.celery.pidbox` direct exchange with the client's oid as
 * routing key and the request's `ticket` in the headers. Only JSON is accepted, whatever `acceptContent` says
 * (kombu's `Mailbox.accept = ['json']`). Pure: no I/O.
 */
import type { ExchangeSpec, SubscriptionSpec } from '../brokers/broker.js';
import type { WireMessage } from '../protocol/message.js';
import type { JsonObject, JsonValue } from '../types.js';

/** Celery's `control_exchange` default: the namespace of `celery.pidbox` and `reply.celery.pidbox`. */
export const CONTROL_NAMESPACE = 'celery';
/** `control_queue_ttl` (seconds): requests and replies older than this are dropped (AMQP `x-message-ttl`). */
export const CONTROL_QUEUE_TTL = 300;
/** `control_queue_expires` (seconds): an unused mailbox or reply queue goes after this (AMQP `x-expires`). */
export const CONTROL_QUEUE_EXPIRES = 10;

/** The exchange requests are broadcast on: fanout, not durable, transient messages (`Mailbox._get_exchange`). */
export function pidboxExchange(namespace = CONTROL_NAMESPACE): ExchangeSpec {
  return { name: `${namespace}.pidbox`, type: 'fanout', durable: false };
}

/** The exchange replies go to (`Mailbox._get_reply_exchange`). */
export function replyExchange(namespace = CONTROL_NAMESPACE): ExchangeSpec {
  return { name: `reply.${namespace}.pidbox`, type: 'direct', durable: false };
}

/** A worker's mailbox queue, `<node>.celery.pidbox` (`Mailbox.get_queue`). */
export function mailboxSubscription(hostname: string, namespace = CONTROL_NAMESPACE): SubscriptionSpec {
  return {
    queue: `${hostname}.${namespace}.pidbox`,
    exchange: pidboxExchange(namespace),
    routingKey: '',
    messageTtlMs: CONTROL_QUEUE_TTL * 1000,
    expiresMs: CONTROL_QUEUE_EXPIRES * 1000,
  };
}

/** A client's reply queue, `<oid>.reply.celery.pidbox` bound with the oid (`Mailbox.get_reply_queue`). */
export function replySubscription(oid: string, namespace = CONTROL_NAMESPACE): SubscriptionSpec {
  const exchange = replyExchange(namespace);
  return {
    queue: `${oid}.${exchange.name}`,
    exchange,
    routingKey: oid,
    messageTtlMs: CONTROL_QUEUE_TTL * 1000,
    expiresMs: CONTROL_QUEUE_EXPIRES * 1000,
  };
}

/** Where a reply goes (`reply_to` of a request). */
export interface ReplyTo {
  readonly exchange: string;
  readonly routing_key: string;
}

/** A request as it travels (`Mailbox._publish`); `ticket` and `reply_to` only when replies are expected. */
export interface ControlRequest {
  readonly method: string;
  readonly arguments: JsonObject;
  readonly destination: readonly string[] | null;
  readonly pattern: string | null;
  readonly matcher: string | null;
  readonly ticket?: string;
  readonly reply_to?: ReplyTo;
}

function jsonMessage(body: JsonValue, headers: JsonObject, deliveryMode: 1 | 2): WireMessage {
  return {
    headers,
    properties: { delivery_mode: deliveryMode, priority: 0 },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: Buffer.from(JSON.stringify(body), 'utf8'),
  };
}

/**
 * The request message. `expires` (seconds since the epoch, 0 for none) is informational, as in kombu: workers do not
 * check it. Python sends these with delivery_mode 2 (observed), although the exchange is transient.
 */
export function requestMessage(request: ControlRequest, clock: number, expires: number): WireMessage {
  return jsonMessage(request as unknown as JsonObject, { clock, expires }, 2);
}

/** The reply message: `{<node>: <reply>}` with the ticket and clock in the headers (`Mailbox._publish_reply`). */
export function replyMessage(hostname: string, reply: JsonValue, ticket: string, clock: number): WireMessage {
  return jsonMessage({ [hostname]: reply }, { ticket, clock }, 1);
}

/** Thrown for a message the mailbox cannot read; the text goes into the `{"error": ...}` reply when one is possible. */
export class ControlMessageError extends Error {}

/** The JSON body of a pidbox message; anything but JSON is refused (kombu's mailbox accepts JSON only). */
export function decodeJsonBody(message: WireMessage): unknown {
  const type = message.contentType;
  if (type !== 'application/json') {
    throw new ControlMessageError(
      `refused a remote-control message with content type ${JSON.stringify(type)}: only application/json is accepted`,
    );
  }
  try {
    return JSON.parse(message.body.toString('utf8')) as unknown;
  } catch (error) {
    throw new ControlMessageError(`undecodable remote-control message: ${(error as Error).message}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(body: Record<string, unknown>, key: string): string | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string')
    throw new ControlMessageError(`${key} must be a string, got ${typeof value}`);
  return value;
}

/**
 * Reads a request body: `method` is required, `arguments` an object, `destination` a list of node names or null.
 * A `reply_to` without a ticket (or the reverse) is kept as it is: replies go where `reply_to` says.
 */
export function parseRequest(body: unknown): ControlRequest {
  if (!isObject(body)) throw new ControlMessageError('a remote-control message must be a JSON object');
  const method = body.method;
  if (typeof method !== 'string' || method === '') {
    throw new ControlMessageError('a remote-control message needs a "method" string');
  }
  const args = body.arguments ?? {};
  if (!isObject(args)) throw new ControlMessageError(`"arguments" of ${method} must be an object`);
  const destination = body.destination ?? null;
  if (
    destination !== null &&
    !(Array.isArray(destination) && destination.every((d) => typeof d === 'string'))
  ) {
    throw new ControlMessageError('"destination" must be a list of node names or null');
  }
  const replyTo = body.reply_to;
  const ticket = body.ticket;
  return {
    method,
    arguments: args as JsonObject,
    destination: destination,
    pattern: optionalString(body, 'pattern'),
    matcher: optionalString(body, 'matcher'),
    ...(typeof ticket === 'string' ? { ticket } : {}),
    ...(isObject(replyTo) && typeof replyTo.exchange === 'string' && typeof replyTo.routing_key === 'string'
      ? { reply_to: { exchange: replyTo.exchange, routing_key: replyTo.routing_key } }
      : {}),
  };
}

/** kombu's `match(hostname, pattern, matcher)`: `glob` (fnmatch) or `pcre` (re.search); others never match. */
export function nodeMatches(hostname: string, pattern: string, matcher: string): boolean {
  if (matcher === 'pcre') {
    try {
      return new RegExp(pattern, 'u').test(hostname);
    } catch {
      return false;
    }
  }
  if (matcher !== 'glob') return false;
  const regex = pattern
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 'su').test(hostname);
}

/** Whether a request is for this node (`Node.handle_message`): listed, matched, or broadcast to all. */
export function isForNode(request: ControlRequest, hostname: string): boolean {
  if (request.destination && request.destination.length > 0) return request.destination.includes(hostname);
  if (request.pattern && request.matcher) return nodeMatches(hostname, request.pattern, request.matcher);
  return true;
}
