/**
 * WireMessage <-> AMQP basic properties. Protocol fields travel in `application_headers`; the properties are the
 * AMQP basic set py-amqp sends (`amqp/basic_message.py:86`), under their wire (snake_case) names in WireMessage.
 * Kombu's Redis-only properties (`body_encoding`, `delivery_tag`, `delivery_info`) have no AMQP field and are not
 * sent, as on py-amqp.
 */
import type { JsonValue } from '../../types.js';
import type { WireMessage } from '../../protocol/message.js';
import type { ConsumeMessage, Options } from '../../transport/amqp/amqplib.js';
import { toFieldTable, toJsonTable, UNDECODABLE_HEADERS } from '../../transport/amqp/field-table.js';

function str(value: JsonValue | undefined): string | undefined {
  if (typeof value === 'string') return value;
  return typeof value === 'number' ? String(value) : undefined;
}

function int(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

/** Publish options for a message; `headers` replaces the message's own header table when given. */
export function toPublishOptions(
  message: WireMessage,
  headers: Readonly<Record<string, JsonValue>> = message.headers,
): Options.Publish {
  const p = message.properties;
  const options: Options.Publish = {
    headers: toFieldTable(headers),
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
    deliveryMode: int(p.delivery_mode) ?? 2,
  };
  const priority = int(p.priority);
  if (priority !== undefined) options.priority = Math.max(0, Math.min(255, priority));
  const correlationId = str(p.correlation_id);
  if (correlationId !== undefined) options.correlationId = correlationId;
  const replyTo = str(p.reply_to);
  if (replyTo !== undefined) options.replyTo = replyTo;
  const expiration = str(p.expiration);
  if (expiration !== undefined) options.expiration = expiration;
  const messageId = str(p.message_id);
  if (messageId !== undefined) options.messageId = messageId;
  const timestamp = int(p.timestamp);
  if (timestamp !== undefined) options.timestamp = timestamp;
  const type = str(p.type);
  if (type !== undefined) options.type = type;
  const userId = str(p.user_id);
  if (userId !== undefined) options.userId = userId;
  const appId = str(p.app_id);
  if (appId !== undefined) options.appId = appId;
  return options;
}

const PROPERTY_NAMES = [
  ['correlationId', 'correlation_id'],
  ['replyTo', 'reply_to'],
  ['deliveryMode', 'delivery_mode'],
  ['priority', 'priority'],
  ['expiration', 'expiration'],
  ['messageId', 'message_id'],
  ['timestamp', 'timestamp'],
  ['type', 'type'],
  ['userId', 'user_id'],
  ['appId', 'app_id'],
  ['clusterId', 'cluster_id'],
] as const;

export interface Received {
  readonly message: WireMessage;
  /** Set when the header table could not be decoded: the message must be rejected, with this reason. */
  readonly headerError?: string;
}

/** The WireMessage a delivery carries. */
export function fromDelivery(msg: ConsumeMessage): Received {
  const p = msg.properties as unknown as Record<string, unknown>;
  const rawHeaders = p.headers as Record<string, unknown> | undefined;
  const headers = rawHeaders ? toJsonTable(rawHeaders) : {};
  const properties: Record<string, JsonValue> = {};
  for (const [from, to] of PROPERTY_NAMES) {
    const value = p[from];
    if (value !== undefined && value !== null) properties[to] = value as JsonValue;
  }
  const contentType = typeof p.contentType === 'string' ? p.contentType : '';
  const contentEncoding = typeof p.contentEncoding === 'string' ? p.contentEncoding : '';
  const message = { headers, properties, contentType, contentEncoding, body: msg.content };
  const headerError = headers[UNDECODABLE_HEADERS];
  return typeof headerError === 'string' ? { message, headerError } : { message };
}
