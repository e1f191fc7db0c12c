/**
 * Golden tests: our protocol codec against what the real Celery 5.2.6 / kombu 5.2.4 put on Redis and stored as
 * results (fixtures recorded by capture.py; see its header to regenerate them).
 *
 * For every captured message we (1) decode Celery's exact Redis list element and check every field against
 * both the raw envelope and the inputs Celery was given, then (2) encode our own message for the same inputs
 * and compare it with Celery's field by field: same header keys, same property keys, equal values except the
 * volatile or intentionally different ones, and an equal decoded body.
 */
import { decode as msgpackDecode } from '@msgpack/msgpack';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { NotRegistered, RemoteTaskError, TaskRevokedError } from '../../src/errors.js';
import {
  AcceptPolicy,
  decodeEnvelope,
  decodeTaskMessage,
  encodeEnvelope,
  encodeTaskMessage,
  exceptionFromMeta,
  formatNaiveUtcIso,
  parseIso,
  serializeException,
  uuid3Oid,
  type Embed,
  type TaskMessage,
  type TaskMessageSpec,
} from '../../src/protocol/index.js';
import type { JsonObject, JsonValue, ResultMeta, ResultTuple } from '../../src/types.js';
import {
  groupFixtures,
  messageFixture,
  messageFixtures,
  resultFixture,
  resultFixtures,
  type MessageFixture,
} from './fixtures.js';

const accept = new AcceptPolicy(['json', 'msgpack']);
const ID = '11111111-1111-1111-1111-111111111111';
const DEFAULT_QUEUE = 'golden-default';
/** capture.py fixes the client's thread_oid to uuid3(NAMESPACE_OID, 'celeriac-golden-client'). */
const GOLDEN_OID = uuid3Oid('celeriac-golden-client');
/** kombu/transport/redis.py: `Channel.sep` and `PRIORITY_STEPS`. */
const SEP = '\x06\x16';
const PRIORITY_STEPS = [0, 3, 6, 9];

/** An independent reading of a raw envelope (no Celeriac code), to check our decoder against. */
interface CeleryView {
  envelope: Record<string, JsonValue>;
  headers: Record<string, JsonValue>;
  properties: Record<string, JsonValue>;
  body: JsonValue;
}

function celeryView(raw: string): CeleryView {
  const envelope = JSON.parse(raw) as Record<string, JsonValue>;
  const headers = envelope.headers as Record<string, JsonValue>;
  const properties = envelope.properties as Record<string, JsonValue>;
  let bytes = Buffer.from(envelope.body as string, 'base64');
  if (headers.compression === 'application/x-gzip') bytes = inflateSync(bytes);
  const body =
    envelope['content-type'] === 'application/x-msgpack'
      ? (msgpackDecode(bytes) as JsonValue)
      : (JSON.parse(bytes.toString('utf8')) as JsonValue);
  return { envelope, headers, properties, body };
}

function decode(raw: string): TaskMessage {
  return decodeTaskMessage(decodeEnvelope(raw).message, accept);
}

/** Epoch ms of an ISO timestamp, to the millisecond (Celery writes microseconds; we keep milliseconds). */
function instant(value: JsonValue | undefined): number | null {
  return typeof value === 'string' ? Date.parse(value) : null;
}

function nowMs(fixture: MessageFixture): number {
  const first = fixture.now[0];
  if (first === undefined) throw new Error(`${fixture.name} recorded no app.now() call`);
  return Date.parse(first);
}

/** The eta/expires Celery computed from the call, in epoch ms (null when not asked for). */
function expectedTimes(fixture: MessageFixture): { eta: number | null; expires: number | null } {
  const { call } = fixture;
  let eta: number | null = null;
  if (call.countdown !== undefined) eta = nowMs(fixture) + call.countdown * 1000;
  else if (call.eta !== undefined) eta = Date.parse(call.eta);
  let expires: number | null = null;
  if (typeof call.expires === 'number') expires = nowMs(fixture) + call.expires * 1000;
  else if (typeof call.expires === 'string' && !call.expires.startsWith('<'))
    expires = Date.parse(call.expires);
  return { eta, expires };
}

function kombuPriorityList(queue: string, priority: number): string {
  const clamped = Math.min(Math.max(priority, 0), 9);
  const step = PRIORITY_STEPS.filter((s) => s <= clamped).at(-1) ?? 0;
  return step === 0 ? queue : `${queue}${SEP}${step}`;
}

const simpleV2 = messageFixtures.filter((f) => !f.call.canvas && f.call.protocol !== 1);
const allV2 = messageFixtures.filter((f) => f.call.protocol !== 1);
const v1 = messageFixtures.filter((f) => f.call.protocol === 1);

describe('golden fixture set', () => {
  it('was captured from Celery 5.2.6 and kombu 5.2.4 and covers messages, results and group metas', () => {
    for (const f of [...messageFixtures, ...resultFixtures, ...groupFixtures]) {
      expect(f.source.celery).toBe('5.2.6');
      expect(f.source.kombu).toBe('5.2.4');
    }
    expect(messageFixtures.length).toBeGreaterThanOrEqual(40);
    expect(resultFixtures.length).toBeGreaterThanOrEqual(13);
    expect(groupFixtures.length).toBe(1);
  });

  it('uses a reply_to oid that our uuid3 reproduces (Python uuid3(NAMESPACE_OID, name))', () => {
    for (const f of messageFixtures) {
      for (const m of f.messages) expect(celeryView(m.raw).properties.reply_to).toBe(GOLDEN_OID);
    }
  });
});

describe('decoding what Celery 5.2.6 published (protocol 2)', () => {
  for (const fixture of allV2) {
    it(`${fixture.name}: ${fixture.description}`, () => {
      for (const { raw } of fixture.messages) {
        const view = celeryView(raw);
        const h = view.headers;
        const p = view.properties;
        const [args, kwargs, embed] = view.body as [JsonValue[], JsonObject, Embed];
        const envelope = decodeEnvelope(raw);
        const msg = decodeTaskMessage(envelope.message, accept);

        expect(envelope.exchange).toBe('');
        expect(envelope.routingKey).toBe(
          fixture.call.queue ?? (fixture.call.worker ? 'golden-parked' : DEFAULT_QUEUE),
        );
        expect(envelope.deliveryTag).toBe(p.delivery_tag);
        expect(envelope.redelivered).toBe(false);
        expect(msg.protocol).toBe(2);
        expect(msg.lang).toBe('py');
        expect(msg.task).toBe(h.task);
        expect(msg.id).toBe(h.id);
        expect(msg.args).toEqual(args);
        expect(msg.kwargs).toEqual(kwargs);
        expect(msg.embed).toEqual(embed);
        expect(msg.eta).toBe(instant(h.eta));
        expect(msg.expires).toBe(instant(h.expires));
        expect(msg.retries).toBe(h.retries);
        expect(msg.timelimit).toEqual(h.timelimit);
        expect(msg.group).toBe(h.group);
        expect(msg.groupIndex).toBe(h.group_index);
        expect(msg.rootId).toBe(h.root_id);
        expect(msg.parentId).toBe(h.parent_id);
        expect(msg.shadow).toBe(h.shadow);
        expect(msg.ignoreResult).toBe(h.ignore_result);
        expect(msg.origin).toBe(h.origin);
        expect(msg.argsrepr).toBe(h.argsrepr);
        expect(msg.kwargsrepr).toBe(h.kwargsrepr);
        expect(msg.priority).toBe(p.priority);
        expect(msg.replyTo).toBe(GOLDEN_OID);
        expect(msg.correlationId).toBe(msg.id);
        expect(msg.headers).toEqual(h);
        const { delivery_info: _info, delivery_tag: _tag, body_encoding: _enc, ...props } = p;
        expect(msg.properties).toEqual(props);
      }
    });
  }

  for (const fixture of simpleV2) {
    it(`${fixture.name}: every field matches what apply_async was asked for`, () => {
      const { call } = fixture;
      expect(fixture.messages).toHaveLength(1);
      const msg = decode(fixture.messages[0]!.raw);
      const { eta, expires } = expectedTimes(fixture);
      expect(msg.task).toBe(call.task);
      expect(msg.id).toBe(call.worker ? 'aaaaaaaa-0000-4000-8000-000000000003' : ID);
      expect(msg.args).toEqual(call.args);
      expect(msg.kwargs).toEqual(call.kwargs);
      expect(msg.embed).toEqual({
        callbacks: call.link ?? null,
        errbacks: call.link_error ?? null,
        chain: null,
        chord: null,
      });
      expect(msg.eta).toBe(eta);
      if (call.expires === undefined || expires !== null) expect(msg.expires).toBe(expires);
      expect(msg.retries).toBe(call.retries ?? 0);
      expect(msg.timelimit).toEqual([call.time_limit ?? null, call.soft_time_limit ?? null]);
      expect(msg.group).toBe(call.group_id ?? null);
      expect(msg.groupIndex).toBe(call.group_index ?? null);
      expect(msg.rootId).toBe(call.root_id ?? msg.id);
      expect(msg.parentId).toBe(call.parent_id ?? (call.worker ? msg.id : null));
      expect(msg.shadow).toBe(call.shadow ?? null);
      expect(msg.ignoreResult).toBe(call.ignore_result ?? false);
      expect(msg.priority).toBe(call.priority ?? 0);
      for (const [key, value] of Object.entries(call.headers ?? {})) expect(msg.headers[key]).toEqual(value);
    });
  }

  it('priority: the property keeps the value as given; kombu picks the sub-list `<queue>\\x06\\x16<step>`', () => {
    const seen: Record<number, string> = {};
    for (const fixture of messageFixtures.filter((f) => f.name.startsWith('priority-'))) {
      const priority = fixture.call.priority!;
      const [message] = fixture.messages;
      expect(decode(message!.raw).priority).toBe(priority);
      expect(message!.key).toBe(kombuPriorityList(DEFAULT_QUEUE, priority));
      seen[priority] = message!.key;
    }
    expect(seen).toEqual({
      0: 'golden-default',
      1: 'golden-default',
      3: 'golden-default\x06\x163',
      5: 'golden-default\x06\x163',
      6: 'golden-default\x06\x166',
      9: 'golden-default\x06\x169',
      12: 'golden-default\x06\x169',
    });
    expect(messageFixture('combined').messages[0]!.key).toBe('golden-combined\x06\x163');
  });

  it('expires: the AMQP expiration property is the TTL in ms as a string', () => {
    const seconds = celeryView(messageFixture('expires-seconds').messages[0]!.raw);
    expect(seconds.properties.expiration).toBe('60000');
    const datetime = messageFixture('expires-datetime');
    const view = celeryView(datetime.messages[0]!.raw);
    // kombu/messaging.py:164 str(int(expiration * 1000)), with expiration = expires - app.now() in seconds.
    const ttl = Number(view.properties.expiration);
    expect(Math.abs(ttl - (instant(view.headers.expires)! - nowMs(datetime)))).toBeLessThanOrEqual(1);
    expect(celeryView(messageFixture('plain').messages[0]!.raw).properties).not.toHaveProperty('expiration');
  });

  it('eta: Celery keeps the offset it was given, and microseconds', () => {
    expect(celeryView(messageFixture('eta').messages[0]!.raw).headers.eta).toBe(
      '2030-01-02T03:04:05.678901+00:00',
    );
    expect(decode(messageFixture('eta').messages[0]!.raw).eta).toBe(Date.UTC(2030, 0, 2, 3, 4, 5, 678));
    expect(celeryView(messageFixture('eta-offset').messages[0]!.raw).headers.eta).toBe(
      '2030-01-02T05:04:05+02:00',
    );
    expect(decode(messageFixture('eta-offset').messages[0]!.raw).eta).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
  });

  it('chain: only the first task is sent and embed.chain holds the rest reversed', () => {
    const [message, ...rest] = messageFixture('chain').messages;
    expect(rest).toHaveLength(0);
    const msg = decode(message!.raw);
    expect(msg.task).toBe('golden.add');
    expect(msg.args).toEqual([1, 2]);
    expect(msg.embed.chain?.map((s) => [s.task, s.args])).toEqual([
      ['golden.tsum', []],
      ['golden.mul', [3]],
    ]);
    for (const sig of msg.embed.chain ?? []) {
      expect(Object.keys(sig)).toEqual(['task', 'args', 'kwargs', 'options', 'subtask_type', 'immutable']);
      expect(sig.options.reply_to).toBe(GOLDEN_OID);
      expect(typeof sig.options.task_id).toBe('string');
    }
  });

  it('group: one message per member, sharing the group id, group_index null, each its own root', () => {
    const msgs = messageFixture('group').messages.map((m) => decode(m.raw));
    expect(msgs.map((m) => m.args)).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(msgs[0]!.group).toMatch(/^[0-9a-f-]{36}$/);
    expect(msgs[1]!.group).toBe(msgs[0]!.group);
    expect(msgs.map((m) => m.groupIndex)).toEqual([null, null]);
    for (const m of msgs) expect(m.rootId).toBe(m.id);
    expect(msgs[0]!.id).not.toBe(msgs[1]!.id);
  });

  it('chord: header messages carry group_index and embed.chord; the Redis backend sets the .s size key', () => {
    for (const name of ['chord', 'chord-link-error']) {
      const fixture = messageFixture(name);
      const msgs = fixture.messages.map((m) => decode(m.raw));
      expect(msgs.map((m) => m.groupIndex)).toEqual([0, 1]);
      expect(msgs[1]!.group).toBe(msgs[0]!.group);
      for (const m of msgs) expect(m.embed.chord?.task).toBe('golden.tsum');
      expect(fixture.keys).toEqual({
        [`celery-taskset-meta-${msgs[0]!.group}.s`]: { value: '2', ttl: 86400 },
      });
    }
    const withErrback = decode(messageFixture('chord-link-error').messages[0]!.raw);
    const linkError = withErrback.embed.chord?.options.link_error as JsonObject[];
    expect(linkError.map((s) => s.task)).toEqual(['golden.fail']);
  });

  it('chain with a group in the middle: the group and its tail become a celery.chord in embed.chain', () => {
    const msg = decode(messageFixture('chain-group-chord').messages[0]!.raw);
    const [chordSig, ...others] = msg.embed.chain ?? [];
    expect(others).toHaveLength(0);
    expect(chordSig?.task).toBe('celery.chord');
    expect(chordSig?.subtask_type).toBe('chord');
    const header = chordSig?.kwargs.header as JsonObject;
    const tasks = (header.kwargs as JsonObject).tasks as JsonObject[];
    expect(tasks.map((t) => (t.options as JsonObject).group_index)).toEqual([0, 1]);
    expect((chordSig?.kwargs.body as JsonObject).task).toBe('golden.tsum');
  });

  it('worker retry: retries is bumped, parent_id is the task itself, extra properties are kept', () => {
    const msg = decode(messageFixture('worker-retry').messages[0]!.raw);
    expect(msg.retries).toBe(1);
    expect(msg.parentId).toBe(msg.id);
    expect(msg.properties.replaced_task_nesting).toBe(0);
    expect(typeof msg.properties.origin).toBe('string');
  });

  it('compression and msgpack: the compression header names the mime type and content-type the serializer', () => {
    const zlib = celeryView(messageFixture('zlib').messages[0]!.raw);
    expect(zlib.headers.compression).toBe('application/x-gzip');
    expect(zlib.envelope['content-type']).toBe('application/json');
    const packed = celeryView(messageFixture('msgpack').messages[0]!.raw);
    expect(packed.envelope['content-type']).toBe('application/x-msgpack');
    expect(packed.envelope['content-encoding']).toBe('binary');
    expect(decode(messageFixture('msgpack-zlib').messages[0]!.raw).args).toEqual([2, 3]);
  });
});

describe('decoding protocol 1 messages (task_protocol=1)', () => {
  for (const fixture of v1) {
    it(`${fixture.name}: ${fixture.description}`, () => {
      for (const { raw } of fixture.messages) {
        const view = celeryView(raw);
        expect(view.headers).toEqual({});
        const body = view.body as Record<string, JsonValue>;
        const msg = decode(raw);
        expect(msg.protocol).toBe(1);
        expect(msg.task).toBe(body.task);
        expect(msg.id).toBe(body.id);
        expect(msg.args).toEqual(body.args);
        expect(msg.kwargs).toEqual(body.kwargs);
        expect(msg.embed).toEqual({
          callbacks: body.callbacks,
          errbacks: body.errbacks,
          chain: null,
          chord: null,
        });
        expect(msg.eta).toBe(instant(body.eta));
        expect(msg.expires).toBe(instant(body.expires));
        expect(msg.retries).toBe(body.retries);
        expect(msg.timelimit).toEqual(body.timelimit);
        // celery/worker/strategy.py proto1_to_proto2: group = taskset.
        expect(msg.group).toBe(body.taskset);
        expect(msg.groupIndex).toBe(body.group_index);
        expect(msg.rootId).toBeNull();
        expect(msg.parentId).toBeNull();
        // proto1_to_proto2 computes argsrepr/kwargsrepr with saferepr of the decoded args, a list.
        expect(msg.argsrepr).toBe(`[${(body.args as number[]).join(', ')}]`);
        expect(msg.replyTo).toBe(GOLDEN_OID);
      }
    });
  }

  it('protocol-1-options: countdown, expires, link, time limits and retries', () => {
    const fixture = messageFixture('protocol-1-options');
    const msg = decode(fixture.messages[0]!.raw);
    const { eta, expires } = expectedTimes(fixture);
    expect(msg.eta).toBe(eta);
    expect(msg.expires).toBe(expires);
    expect(msg.timelimit).toEqual([30, 20]);
    expect(msg.retries).toBe(2);
    expect(msg.embed.callbacks?.map((s) => s.task)).toEqual(['golden.mul']);
    expect(msg.argsrepr).toBe('[2]');
    expect(msg.kwargsrepr).toBe("{'y': 3}");
    expect(celeryView(fixture.messages[0]!.raw).properties.expiration).toBe('60000');
  });
});

/**
 * The spec our app would hand to the codec for the same call. With `derived` (canvas captures, worker retries
 * and protocol 1 comparisons) the embed, group and lineage fields come from Celery's message, since they are
 * computed by Celery's canvas and worker code rather than given in the call.
 */
function specFor(
  fixture: MessageFixture,
  celery: TaskMessage,
  derived = fixture.call.canvas !== undefined || fixture.call.worker === true,
): { spec: TaskMessageSpec; serializer: string } {
  const { call } = fixture;
  const { eta, expires } = expectedTimes(fixture);
  const extraProperties: Record<string, JsonValue> = {};
  if (call.worker) {
    // A Python worker's retry passes these through as message properties (celery/app/task.py retry).
    for (const key of ['replaced_task_nesting', 'origin']) {
      const value = celery.properties[key];
      if (value !== undefined) extraProperties[key] = value;
    }
  }
  const spec: TaskMessageSpec = {
    id: celery.id,
    task: call.task ?? celery.task,
    args: call.args ?? celery.args,
    kwargs: call.kwargs ?? celery.kwargs,
    embed: derived ? celery.embed : { callbacks: call.link ?? null, errbacks: call.link_error ?? null },
    eta: eta ?? celery.eta,
    expires: expires ?? celery.expires,
    retries: call.retries ?? (derived ? celery.retries : undefined),
    timeLimit: call.time_limit,
    softTimeLimit: call.soft_time_limit,
    group: derived ? celery.group : call.group_id,
    groupIndex: derived ? celery.groupIndex : call.group_index,
    rootId: derived ? celery.rootId : call.root_id,
    parentId: derived ? celery.parentId : call.parent_id,
    shadow: call.shadow,
    origin: 'gen4242@celeriac-golden',
    replyTo: GOLDEN_OID,
    ignoreResult: call.ignore_result,
    headers: call.headers,
    priority: call.priority,
    properties: extraProperties,
  };
  return { spec, serializer: call.serializer ?? 'json' };
}

function encodeOurs(fixture: MessageFixture, celeryRaw: string): string {
  const celery = decode(celeryRaw);
  const { spec, serializer } = specFor(fixture, celery);
  const now = fixture.now[0] === undefined ? Date.now() : nowMs(fixture);
  const wire = encodeTaskMessage(spec, { serializer, compression: fixture.call.compression, now });
  const route = decodeEnvelope(celeryRaw);
  return encodeEnvelope(wire, { exchange: '', routingKey: route.routingKey, deliveryTag: 'ours' });
}

/**
 * Header values that differ from Celery's on purpose. Python's repr writes the float 3.0 as `3.0`; a JavaScript
 * number has no such distinction, so our argsrepr says `3`.
 */
const tuplesAsLists = (v: JsonValue): JsonValue =>
  typeof v === 'string' ? v.replace(/\(([^()]*)\)/g, '[$1]') : v;
const INTENTIONAL_HEADER_VALUES: Record<string, Record<string, (celery: JsonValue) => JsonValue>> = {
  'unicode-nested': { argsrepr: (v) => (typeof v === 'string' ? v.replace(', 3.0)', ', 3)') : v) },
  // Tuples inside the kwargs (a signature's args, starmap items) are lists once they are JSON.
  map: { kwargsrepr: tuplesAsLists },
  starmap: { kwargsrepr: tuplesAsLists },
  chunks: { kwargsrepr: tuplesAsLists },
};

function compareHeaders(fixture: MessageFixture, ours: CeleryView, theirs: CeleryView): void {
  expect(Object.keys(ours.headers).sort()).toEqual(Object.keys(theirs.headers).sort());
  for (const [key, value] of Object.entries(theirs.headers)) {
    const mine = ours.headers[key];
    const intentional = INTENTIONAL_HEADER_VALUES[fixture.name]?.[key];
    if (key === 'lang') {
      expect([mine, value]).toEqual(['js', 'py']);
    } else if (key === 'origin') {
      expect(typeof mine).toBe('string');
    } else if (key === 'eta' || key === 'expires') {
      // Same instant to the millisecond; we always write UTC with +00:00, Celery keeps the offset it was given.
      expect(mine === null ? null : parseIso(mine as string), `${key}`).toBe(
        value === null ? null : Date.parse(value as string),
      );
    } else if (intentional) {
      expect(mine, key).toEqual(intentional(value));
    } else {
      expect(mine, key).toEqual(value);
    }
  }
}

function compareProperties(fixture: MessageFixture, ours: CeleryView, theirs: CeleryView): void {
  expect(Object.keys(ours.properties).sort()).toEqual(Object.keys(theirs.properties).sort());
  for (const [key, value] of Object.entries(theirs.properties)) {
    const mine = ours.properties[key];
    if (key === 'delivery_tag') {
      expect(typeof mine).toBe('string');
    } else if (key === 'expiration' && fixture.volatile.includes('properties.expiration')) {
      // Celery truncates (expires - now) computed in microseconds; we work in whole milliseconds.
      expect(Math.abs(Number(mine) - Number(value))).toBeLessThanOrEqual(1);
    } else {
      expect(mine, key).toEqual(value);
    }
  }
}

describe('our encoding compared with Celery 5.2.6, field by field', () => {
  for (const fixture of allV2) {
    it(`${fixture.name}: ${fixture.description}`, () => {
      for (const { raw } of fixture.messages) {
        const ours = encodeOurs(fixture, raw);
        const mine = celeryView(ours);
        const theirs = celeryView(raw);
        expect(Object.keys(mine.envelope).sort()).toEqual(Object.keys(theirs.envelope).sort());
        expect(mine.envelope['content-type']).toBe(theirs.envelope['content-type']);
        expect(mine.envelope['content-encoding']).toBe(theirs.envelope['content-encoding']);
        compareHeaders(fixture, mine, theirs);
        compareProperties(fixture, mine, theirs);
        expect(mine.body).toEqual(theirs.body);
        // And our decoder reads our message as it reads Celery's.
        const a = decode(ours);
        const b = decode(raw);
        expect({ ...a, lang: null, origin: null, headers: null, properties: null }).toEqual({
          ...b,
          argsrepr: a.argsrepr,
          kwargsrepr: a.kwargsrepr,
          lang: null,
          origin: null,
          headers: null,
          properties: null,
        });
      }
    });
  }

  it('msgpack bodies are byte-identical to kombu msgpack (use_bin_type) output', () => {
    const fixture = messageFixture('msgpack');
    const raw = fixture.messages[0]!.raw;
    const ours = JSON.parse(encodeOurs(fixture, raw)) as { body: string };
    expect(ours.body).toBe((JSON.parse(raw) as { body: string }).body);
  });

  it('protocol 1 messages decode to the same task as our protocol 2 encoding of the same call', () => {
    for (const fixture of v1) {
      for (const { raw } of fixture.messages) {
        const celery = decode(raw);
        const { spec } = specFor(fixture, celery, true);
        const ours = decodeTaskMessage(
          encodeTaskMessage({ ...spec, rootId: null }, { serializer: 'json', now: nowOr(fixture) }),
          accept,
        );
        for (const field of [
          'id',
          'task',
          'args',
          'kwargs',
          'embed',
          'eta',
          'expires',
          'retries',
          'timelimit',
        ] as const) {
          expect(ours[field], field).toEqual(celery[field]);
        }
        expect(ours.group).toBe(celery.group);
        expect(ours.protocol).toBe(2);
      }
    }
  });
});

function nowOr(fixture: MessageFixture): number {
  return fixture.now[0] === undefined ? Date.now() : nowMs(fixture);
}

const META_KEYS = new Set([
  'status',
  'result',
  'traceback',
  'children',
  'date_done',
  'task_id',
  'group_id',
  'parent_id',
  'name',
  'args',
  'kwargs',
  'worker',
  'retries',
  'queue',
]);

function meta(name: string): ResultMeta {
  return JSON.parse(resultFixture(name).raw) as ResultMeta;
}

describe('result metas written by a real Celery 5.2.6 worker', () => {
  for (const fixture of resultFixtures) {
    it(`${fixture.name}: ${fixture.description}`, () => {
      const stored = JSON.parse(fixture.raw) as Record<string, JsonValue>;
      for (const key of Object.keys(stored)) expect(META_KEYS.has(key), key).toBe(true);
      const m = stored as unknown as ResultMeta;
      expect(m.task_id).toBe(fixture.task_id);
      expect(fixture.key).toBe(`celery-task-meta-${fixture.task_id}`);
      expect(fixture.ttl).toBe(86400);
      expect(Array.isArray(m.children)).toBe(true);
      expect(Object.keys(stored).slice(0, 5)).toEqual([
        'status',
        'result',
        'traceback',
        'children',
        'date_done',
      ]);
      if (['SUCCESS', 'FAILURE', 'REVOKED'].includes(m.status)) {
        // Naive UTC with microseconds; ours prints the same shape from epoch ms.
        expect(m.date_done).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
        const ms = Date.parse(`${m.date_done!}Z`);
        expect(formatNaiveUtcIso(ms).slice(0, 23)).toBe(m.date_done!.slice(0, 23));
        expect(formatNaiveUtcIso(ms)).toHaveLength(m.date_done!.length);
      } else {
        expect(m.date_done).toBeNull();
      }
      const extendedKeys = ['name', 'args', 'kwargs', 'worker', 'retries', 'queue'];
      for (const key of extendedKeys) expect(key in stored, key).toBe(fixture.result_extended);
    });
  }

  it('FAILURE ValueError("boom", 42) reads back as type ValueError, module builtins, args ["boom", 42]', () => {
    for (const name of ['failure', 'failure-extended']) {
      const m = meta(name);
      expect(m.status).toBe('FAILURE');
      const error = exceptionFromMeta(m.result, m.traceback, m.task_id);
      expect(error).toBeInstanceOf(RemoteTaskError);
      expect(error.excType).toBe('ValueError');
      expect(error.excModule).toBe('builtins');
      expect(error.excArgs).toEqual(['boom', 42]);
      expect(error.taskId).toBe(m.task_id);
      expect(error.remoteTraceback).toMatch(/^Traceback \(most recent call last\):\n/);
      expect(error.remoteTraceback).toContain("ValueError: ('boom', 42)");
    }
  });

  it('serializeException gives the shape Celery stores: exc_type, exc_message list, exc_module', () => {
    const celeryShape = meta('failure').result as JsonObject;
    const ours = serializeException(new TypeError('x'));
    expect(Object.keys(ours)).toEqual(Object.keys(celeryShape));
    expect(ours).toEqual({ exc_type: 'TypeError', exc_message: ['x'], exc_module: 'builtins' });
    expect(serializeException(new NotRegistered('golden.nope'))).toEqual(meta('not-registered').result);
    expect(serializeException(new TaskRevokedError('expired'))).toEqual(meta('revoked-expired').result);
  });

  it('REVOKED (expired) and NotRegistered failures have no traceback', () => {
    expect(meta('revoked-expired')).toMatchObject({ status: 'REVOKED', traceback: null });
    expect(meta('not-registered')).toMatchObject({ status: 'FAILURE', traceback: null });
    const error = exceptionFromMeta(meta('not-registered').result, null, meta('not-registered').task_id);
    expect([error.excType, error.excModule, error.remoteMessage]).toEqual([
      'NotRegistered',
      'celery.exceptions',
      'golden.nope',
    ]);
  });

  it('RETRY stores the retry reason as an exception and no date_done; the retried run has parent_id = itself', () => {
    const retry = meta('retry');
    expect(retry.status).toBe('RETRY');
    expect(retry.result).toEqual({ exc_type: 'KeyError', exc_message: ['nope'], exc_module: 'builtins' });
    expect(retry.traceback).toContain('celery.exceptions.Retry: Retry in 0s');
    expect(meta('retry-success')).toMatchObject({ status: 'SUCCESS', result: 'v', parent_id: retry.task_id });
  });

  it('custom state, STARTED and result_extended metas', () => {
    expect(meta('progress')).toMatchObject({
      status: 'PROGRESS',
      result: { current: 1, total: 2 },
      date_done: null,
    });
    const started = meta('started');
    expect(started.status).toBe('STARTED');
    expect(Object.keys(started.result as JsonObject)).toEqual(['pid', 'hostname']);
    expect(meta('success-extended')).toMatchObject({
      status: 'SUCCESS',
      result: 5,
      name: 'golden.add',
      args: [2, 3],
      kwargs: {},
      retries: 0,
      queue: 'golden-worker',
    });
  });

  it('children are result tuples [[id, parent], null]; a chain child carries parent_id, a group member group_id', () => {
    const parent = meta('chain-parent');
    const child = meta('chain-child');
    const tuples = parent.children as ResultTuple[];
    expect(tuples).toEqual([[[child.task_id, null], null]]);
    expect(child.parent_id).toBe(parent.task_id);
    expect(meta('group-member').group_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('GroupResult.save() stores {"result": [[gid, null], [child tuples]]}', () => {
    const [fixture] = groupFixtures;
    expect(fixture!.key).toBe(`celery-taskset-meta-${fixture!.group_id}`);
    const saved = JSON.parse(fixture!.raw) as { result: ResultTuple };
    expect(saved.result).toEqual([
      [fixture!.group_id, null],
      fixture!.children.map((id) => [[id, null], null]),
    ]);
  });
});
