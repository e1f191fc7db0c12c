/**
 * kombu's virtual-transport envelope (reference §2.5, §2.2.5a): the JSON document a Redis list holds per message,
 * with the serialized body base64-encoded and `delivery_tag`/`delivery_info` in the properties.
 */
import { InvalidTaskError } from '../errors.js';
import type { JsonValue } from '../types.js';
import type { WireMessage } from './message.js';

export interface EnvelopeRoute {
  exchange: string;
  routingKey: string;
  deliveryTag: string;
}

export interface DecodedEnvelope extends EnvelopeRoute {
  message: WireMessage;
  redelivered: boolean;
}

/**
 * The envelope as JSON, in kombu's key order. Written piecewise (the same text `JSON.stringify` gives for the
 * nested object) to spare a copy of the properties per message; properties that already carry the transport's
 * own keys take the general path.
 */
export function encodeEnvelope(wire: WireMessage, route: EnvelopeRoute): string {
  const props = wire.properties;
  if (!('delivery_info' in props) && !('body_encoding' in props) && !('delivery_tag' in props)) {
    const own = JSON.stringify(props);
    const transport =
      `"delivery_info":{"exchange":${JSON.stringify(route.exchange)},"routing_key":${JSON.stringify(route.routingKey)}},` +
      `"body_encoding":"base64","delivery_tag":${JSON.stringify(route.deliveryTag)}}`;
    return (
      `{"body":"${wire.body.toString('base64')}","content-encoding":${JSON.stringify(wire.contentEncoding)},` +
      `"content-type":${JSON.stringify(wire.contentType)},"headers":${JSON.stringify(wire.headers)},` +
      `"properties":${own === '{}' ? '{' : own.slice(0, -1) + ','}${transport}}`
    );
  }
  return encodeEnvelopeSlow(wire, route);
}

function encodeEnvelopeSlow(wire: WireMessage, route: EnvelopeRoute): string {
  return JSON.stringify({
    body: wire.body.toString('base64'),
    'content-encoding': wire.contentEncoding,
    'content-type': wire.contentType,
    headers: wire.headers,
    properties: {
      ...wire.properties,
      delivery_info: { exchange: route.exchange, routing_key: route.routingKey },
      body_encoding: 'base64',
      delivery_tag: route.deliveryTag,
    },
  });
}

const BASE64_RE = /^[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*$/;

function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses an envelope. Throws InvalidTaskError with reason `envelope-not-json`, `envelope-shape`, `missing-body` or `bad-body-encoding`. */
export function decodeEnvelope(raw: string | Buffer): DecodedEnvelope {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (error) {
    throw new InvalidTaskError('envelope-not-json', `message is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(doc))
    throw new InvalidTaskError('envelope-shape', 'message is JSON but not an object envelope');
  const body = doc.body;
  if (body === undefined || body === null)
    throw new InvalidTaskError('missing-body', 'message envelope has no body');
  const given = isObject(doc.properties) ? doc.properties : {};
  // The message's own properties: a fresh object without the transport's keys (no `delete`, which would turn
  // the object into a slow dictionary for everything that reads it later).
  const properties: Record<string, JsonValue> = {};
  for (const key of Object.keys(given)) {
    if (key === 'delivery_info' || key === 'delivery_tag' || key === 'body_encoding') continue;
    // A "__proto__" key from the wire stays a plain property (as the spread it replaces kept it).
    if (key === '__proto__') {
      Object.defineProperty(properties, key, {
        value: given[key],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      properties[key] = given[key]!;
    }
  }
  const headers = isObject(doc.headers) ? doc.headers : {};
  let bytes: Buffer;
  if (given.body_encoding === 'base64') {
    if (typeof body !== 'string' || !BASE64_RE.test(body)) {
      throw new InvalidTaskError(
        'bad-body-encoding',
        'message body is not valid base64 (body_encoding is base64)',
      );
    }
    bytes = Buffer.from(body, 'base64');
  } else {
    bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  }
  const info = isObject(given.delivery_info) ? given.delivery_info : {};
  const tag = given.delivery_tag;
  return {
    message: {
      headers,
      properties,
      contentType: typeof doc['content-type'] === 'string' ? doc['content-type'] : 'application/json',
      contentEncoding: typeof doc['content-encoding'] === 'string' ? doc['content-encoding'] : 'utf-8',
      body: bytes,
    },
    exchange: typeof info.exchange === 'string' ? info.exchange : '',
    routingKey: typeof info.routing_key === 'string' ? info.routing_key : '',
    deliveryTag: typeof tag === 'string' ? tag : '',
    redelivered: info.redelivered === true || headers.redelivered === true,
  };
}
