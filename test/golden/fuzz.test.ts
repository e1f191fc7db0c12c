/**
 * Property tests for the protocol codec. A worker must survive anything a queue holds: decoding either yields a
 * task message or throws InvalidTaskError with a reason code, never another error. And whatever valid message
 * we encode decodes back to the same task. Runs are sized to finish in a few seconds.
 */
import { encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InvalidTaskError } from '../../src/errors.js';
import {
  AcceptPolicy,
  decodeEnvelope,
  decodeTaskMessage,
  encodeEnvelope,
  encodeTaskMessage,
  type SignatureDict,
  type TaskMessage,
  type TaskMessageSpec,
} from '../../src/protocol/index.js';
import type { JsonObject, JsonValue } from '../../src/types.js';
import { allRawEnvelopes } from './fixtures.js';

const accept = new AcceptPolicy(['json', 'msgpack']);
const RUNS = { numRuns: 300 };

/** Decodes like a worker does; returns the message, or the InvalidTaskError, and fails on anything else. */
function decodeOrReject(raw: string | Buffer): TaskMessage | InvalidTaskError {
  try {
    return decodeTaskMessage(decodeEnvelope(raw).message, accept);
  } catch (error) {
    if (!(error instanceof InvalidTaskError)) throw error;
    expect(typeof error.reason).toBe('string');
    expect(error.reason.length).toBeGreaterThan(0);
    expect(error.message.length).toBeGreaterThan(0);
    return error;
  }
}

/** fast-check's JSON values, typed as ours (its object type allows `undefined` members, which it never makes). */
const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue>;
const headerValue = fc.oneof(json, fc.constantFrom('golden.add', '', null, [1, null], [-1, 'x'], 3.5, -2));

/** Header tables that are often close to valid: the protocol keys with random values. */
const headers = fc.dictionary(
  fc.constantFrom(
    'task',
    'id',
    'eta',
    'expires',
    'retries',
    'timelimit',
    'group',
    'group_index',
    'root_id',
    'compression',
    'lang',
    'x-custom',
    '__proto__',
  ),
  headerValue,
  { maxKeys: 8 },
);

/** Bodies as bytes: random bytes, JSON or msgpack of random values, v2-shaped and v1-shaped bodies. */
const bodyValue = fc.oneof(
  json,
  fc.tuple(fc.array(json, { maxLength: 3 }), fc.dictionary(fc.string(), json, { maxKeys: 3 }), json),
  fc.tuple(json, json),
  fc.record(
    { task: fc.oneof(fc.string(), json), id: json, args: json, kwargs: json, eta: json, taskset: json },
    {
      requiredKeys: [],
    },
  ),
);

const bodyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  bodyValue.map((v) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8')),
  bodyValue.map((v) => Buffer.from(msgpackEncode(v))),
  bodyValue.map((v) => deflateSync(Buffer.from(JSON.stringify(v) ?? 'null', 'utf8'))),
);

const contentType = fc.constantFrom(
  'application/json',
  'application/x-msgpack',
  'application/x-python-serialize',
  'application/x-yaml',
  'text/plain',
  '',
);

const envelope = fc
  .record({
    body: bodyBytes,
    contentType,
    headers,
    compression: fc.constantFrom(
      undefined,
      'application/x-gzip',
      'application/x-brotli',
      'application/x-bz2',
    ),
    bodyEncoding: fc.constantFrom('base64', 'base64', undefined, 'utf-8'),
    properties: fc.dictionary(
      fc.constantFrom('priority', 'reply_to', 'correlation_id', 'delivery_info'),
      json,
      {
        maxKeys: 3,
      },
    ),
  })
  .map((e) => {
    const h: Record<string, JsonValue> = { ...e.headers };
    if (e.compression !== undefined) h.compression = e.compression;
    return JSON.stringify({
      body: e.bodyEncoding === 'base64' ? e.body.toString('base64') : e.body.toString('utf8'),
      'content-type': e.contentType,
      headers: h,
      properties:
        e.bodyEncoding === undefined ? e.properties : { ...e.properties, body_encoding: e.bodyEncoding },
    });
  });

/** Celery's own messages with one field replaced by a random value. */
const CELERY = allRawEnvelopes();
const mutatedCelery = fc
  .record({
    index: fc.nat({ max: CELERY.length - 1 }),
    part: fc.constantFrom('headers', 'properties', 'top'),
    key: fc.constantFrom(
      'task',
      'id',
      'eta',
      'expires',
      'timelimit',
      'retries',
      'group_index',
      'compression',
      'body',
      'content-type',
      'body_encoding',
      'priority',
      'headers',
    ),
    value: headerValue,
  })
  .map(({ index, part, key, value }) => {
    const doc = JSON.parse(CELERY[index]!) as Record<string, Record<string, JsonValue>>;
    if (part === 'top') (doc as Record<string, JsonValue>)[key] = value;
    else doc[part] = { ...doc[part], [key]: value };
    return JSON.stringify(doc);
  });

describe('decoding never fails with anything but InvalidTaskError', () => {
  it('arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        decodeOrReject(s);
      }),
      RUNS,
    );
  });

  it('arbitrary buffers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        decodeOrReject(Buffer.from(b));
      }),
      RUNS,
    );
  });

  it('arbitrary JSON documents', () => {
    fc.assert(
      fc.property(json, (doc) => {
        decodeOrReject(JSON.stringify(doc) ?? 'null');
      }),
      RUNS,
    );
  });

  it('envelope-shaped documents with random headers, bodies, content types and compression', () => {
    fc.assert(
      fc.property(envelope, (raw) => {
        decodeOrReject(raw);
      }),
      { numRuns: 1000 },
    );
  });

  it('Celery 5.2.6 messages with one field replaced by a random value', () => {
    fc.assert(
      fc.property(mutatedCelery, (raw) => {
        decodeOrReject(raw);
      }),
      { numRuns: 1000 },
    );
  });

  it('every captured Celery message decodes', () => {
    for (const raw of CELERY) expect(decodeOrReject(raw)).not.toBeInstanceOf(InvalidTaskError);
  });
});

// Python's datetime covers years 1..9999; so does the ISO-8601 we write.
const MIN_MS = Date.parse('0001-01-01T00:00:00Z');
const MAX_MS = new Date('9999-12-31T23:59:59.999Z').getTime();
const instant = fc.integer({ min: MIN_MS, max: MAX_MS });
const id = fc.uuid();
const text = fc.string({ unit: 'grapheme', maxLength: 20 });
// `__proto__` keys are covered by their own test below: @msgpack/msgpack refuses to decode them.
const key = text.filter((k) => k !== '__proto__');
const value = (fc.jsonValue({ maxDepth: 2, stringUnit: 'grapheme' }) as fc.Arbitrary<JsonValue>).map(
  withoutProtoKeys,
);
const kwargs = fc.dictionary(key, value, { maxKeys: 4 }) as fc.Arbitrary<JsonObject>;
const signature: fc.Arbitrary<SignatureDict> = fc.record({
  task: text,
  args: fc.array(value, { maxLength: 3 }),
  kwargs,
  options: kwargs,
  subtask_type: fc.constantFrom(null, 'chain', 'group', 'chord'),
  immutable: fc.boolean(),
});
const signatures = fc.option(fc.array(signature, { minLength: 1, maxLength: 2 }), { nil: null });
const limit = fc.option(fc.oneof(fc.nat({ max: 86_400 }), fc.double({ min: 0, max: 1e6, noNaN: true })), {
  nil: null,
});

const spec: fc.Arbitrary<TaskMessageSpec> = fc.record({
  id,
  task: text.filter((t) => t !== ''),
  args: fc.array(value, { maxLength: 4 }),
  kwargs,
  embed: fc.record({
    callbacks: signatures,
    errbacks: signatures,
    chain: signatures,
    chord: fc.option(signature, { nil: null }),
  }),
  eta: fc.option(instant, { nil: null }),
  expires: fc.option(instant, { nil: null }),
  retries: fc.nat({ max: 1000 }),
  timeLimit: limit,
  softTimeLimit: limit,
  group: fc.option(id, { nil: null }),
  groupIndex: fc.option(fc.nat({ max: 100 }), { nil: null }),
  rootId: fc.option(id, { nil: null }),
  parentId: fc.option(id, { nil: null }),
  shadow: fc.option(text, { nil: null }),
  origin: text,
  replyTo: id,
  ignoreResult: fc.boolean(),
  headers: fc.dictionary(
    text.map((k) => `x-${k}`),
    value,
    { maxKeys: 3 },
  ),
  priority: fc.option(fc.integer({ min: 0, max: 255 }), { nil: null }),
});

function withoutProtoKeys(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(withoutProtoKeys);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => k !== '__proto__')
      .map(([k, x]) => [k, withoutProtoKeys(x)]),
  );
}

/** What JSON (and msgpack, which writes -0 as the integer 0) keeps of a value: `-0` becomes `0`. */
function viaJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

describe('encode then decode round-trips valid task specs', () => {
  it('json, msgpack, zlib and brotli', () => {
    fc.assert(
      fc.property(
        spec,
        fc.constantFrom('json', 'msgpack'),
        fc.constantFrom(undefined, 'zlib', 'brotli'),
        instant,
        (s, serializer, compression, now) => {
          const wire = encodeTaskMessage(s, { serializer, compression, now });
          const raw = encodeEnvelope(wire, { exchange: '', routingKey: 'q', deliveryTag: 'tag' });
          const env = decodeEnvelope(raw);
          expect([env.exchange, env.routingKey, env.deliveryTag]).toEqual(['', 'q', 'tag']);
          const msg = decodeTaskMessage(env.message, accept);
          expect(msg.protocol).toBe(2);
          expect(msg.id).toBe(s.id);
          expect(msg.task).toBe(s.task);
          expect(msg.args).toEqual(viaJson(s.args));
          expect(msg.kwargs).toEqual(viaJson(s.kwargs));
          expect(msg.embed).toEqual(viaJson(s.embed));
          expect(msg.eta).toBe(s.eta);
          expect(msg.expires).toBe(s.expires);
          expect(msg.retries).toBe(s.retries);
          expect(msg.timelimit).toEqual([s.timeLimit, s.softTimeLimit]);
          expect(msg.group).toBe(s.group);
          expect(msg.groupIndex).toBe(s.groupIndex);
          expect(msg.rootId).toBe(s.rootId || s.id);
          expect(msg.parentId).toBe(s.parentId);
          expect(msg.shadow).toBe(s.shadow);
          expect(msg.origin).toBe(s.origin);
          expect(msg.ignoreResult).toBe(s.ignoreResult);
          expect(msg.replyTo).toBe(s.replyTo);
          expect(msg.correlationId).toBe(s.id);
          expect(msg.priority).toBe(s.priority ?? 0);
          expect(msg.lang).toBe('js');
          for (const [key, v] of Object.entries(s.headers ?? {}))
            expect(msg.headers[key]).toEqual(viaJson(v));
          const expiration = s.expires == null ? undefined : String(Math.max(0, s.expires - now));
          expect(msg.properties.expiration).toBe(expiration);
        },
      ),
      RUNS,
    );
  });
});

describe('a `__proto__` key in kwargs', () => {
  const base: TaskMessageSpec = { id: 'p', task: 't', args: [], kwargs: {}, origin: 'o', replyTo: 'r' };
  const kw = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as JsonObject;

  it('round-trips through JSON as an own property, without touching any prototype', () => {
    const wire = encodeTaskMessage({ ...base, kwargs: kw }, { serializer: 'json', now: 0 });
    const msg = decodeTaskMessage(wire, accept);
    expect(Object.keys(msg.kwargs)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('is refused in msgpack bodies, as @msgpack/msgpack refuses such map keys', () => {
    const wire = encodeTaskMessage({ ...base, kwargs: kw }, { serializer: 'msgpack', now: 0 });
    expect(() => decodeTaskMessage(wire, accept)).toThrow(InvalidTaskError);
    try {
      decodeTaskMessage(wire, accept);
    } catch (error) {
      expect((error as InvalidTaskError).reason).toBe('body-decode-error');
    }
  });
});
