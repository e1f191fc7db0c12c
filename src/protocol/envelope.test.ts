import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeEnvelope } from './envelope.js';
import type { WireMessage } from './message.js';

/** The envelope as one JSON.stringify of the nested object writes it: the reference for the piecewise writer. */
function reference(wire: WireMessage, exchange: string, routingKey: string, deliveryTag: string): string {
  return JSON.stringify({
    body: wire.body.toString('base64'),
    'content-encoding': wire.contentEncoding,
    'content-type': wire.contentType,
    headers: wire.headers,
    properties: {
      ...wire.properties,
      delivery_info: { exchange, routing_key: routingKey },
      body_encoding: 'base64',
      delivery_tag: deliveryTag,
    },
  });
}

describe('encodeEnvelope', () => {
  it('writes the same text as JSON.stringify of the envelope object', () => {
    const json = fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.constant(null)));
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        json,
        json,
        fc.string(),
        fc.string(),
        fc.string(),
        (body, headers, properties, exchange, routingKey, tag) => {
          const wire: WireMessage = {
            body: Buffer.from(body),
            headers,
            properties,
            contentType: 'application/json',
            contentEncoding: 'utf-8',
          };
          const route = { exchange, routingKey, deliveryTag: tag };
          expect(encodeEnvelope(wire, route)).toBe(reference(wire, exchange, routingKey, tag));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
