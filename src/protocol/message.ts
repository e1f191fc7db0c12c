/**
 * Celery task message protocol v2 (reference §2.2): encode what the app publishes, decode what a worker receives.
 * Pure: no I/O. A `WireMessage` is the transport-neutral form every broker driver carries; drivers map it to
 * their own layout (kombu's Redis JSON envelope, AMQP basic properties).
 */
import { InvalidTaskError } from '../errors.js';
import type { JsonObject, JsonValue } from '../types.js';
import { compress, decompress } from './compression.js';
import { pyReprArgs, pyReprKwargs } from './pyrepr.js';
import { serializerByName, type AcceptPolicy, type Serializers } from './serializers/index.js';
import { formatAwareIso, parseIso } from './time.js';
import { v1BodyToV2 } from './v1.js';

/** A signature in Celery's dict form (reference §2.2.4): what travels in callbacks, errbacks, chain and chord. */
export interface SignatureDict {
  task: string;
  args: JsonValue[];
  kwargs: JsonObject;
  options: JsonObject;
  subtask_type: string | null;
  immutable: boolean;
  [extra: string]: JsonValue;
}

/** The third element of a v2 body. `chain` is reversed: the next task is the last element. */
export interface Embed {
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  chain: SignatureDict[] | null;
  chord: SignatureDict | null;
}

/** A message as every broker carries it: protocol headers, AMQP-style properties (wire names) and the body bytes. */
export interface WireMessage {
  headers: Record<string, JsonValue>;
  /** `correlation_id`, `reply_to`, `delivery_mode`, `priority`, `expiration`, plus anything the producer added. */
  properties: Record<string, JsonValue>;
  contentType: string;
  contentEncoding: string;
  body: Buffer;
}

/** What the app asks to publish; defaults follow `celery/app/amqp.py:280 as_task_v2`. */
export interface TaskMessageSpec {
  id: string;
  task: string;
  args: readonly unknown[];
  kwargs: Readonly<Record<string, unknown>>;
  embed?: Partial<Embed> | undefined;
  /** Absolute times in milliseconds since the epoch. */
  eta?: number | null | undefined;
  expires?: number | null | undefined;
  retries?: number | undefined;
  timeLimit?: number | null | undefined;
  softTimeLimit?: number | null | undefined;
  group?: string | null | undefined;
  groupIndex?: number | null | undefined;
  rootId?: string | null | undefined;
  parentId?: string | null | undefined;
  shadow?: string | null | undefined;
  origin: string;
  replyTo: string;
  ignoreResult?: boolean | undefined;
  argsrepr?: string | undefined;
  kwargsrepr?: string | undefined;
  /** Extra headers, merged flat into the header table as Celery does. */
  headers?: Readonly<Record<string, JsonValue>> | undefined;
  priority?: number | null | undefined;
  deliveryMode?: 1 | 2 | undefined;
  /** Extra properties (kept verbatim on Redis, as kombu does). */
  properties?: Readonly<Record<string, JsonValue>> | undefined;
}

export interface EncodeOptions {
  serializer: string;
  /** The app's serializers, where `serializer` is looked up; the built-in ones (json, msgpack) by default. */
  serializers?: Serializers | undefined;
  compression?: string | null | undefined;
  /** Milliseconds since the epoch; used for the AMQP `expiration` property. */
  now: number;
}

const EMPTY_EMBED: Embed = { callbacks: null, errbacks: null, chain: null, chord: null };

export function encodeTaskMessage(spec: TaskMessageSpec, options: EncodeOptions): WireMessage {
  const serializer = options.serializers
    ? options.serializers.get(options.serializer)
    : serializerByName(options.serializer);
  const embed: Embed = { ...EMPTY_EMBED, ...spec.embed };
  const headers: Record<string, JsonValue> = {
    lang: 'js',
    task: spec.task,
    id: spec.id,
    shadow: spec.shadow ?? null,
    eta: spec.eta == null ? null : formatAwareIso(spec.eta),
    expires: spec.expires == null ? null : formatAwareIso(spec.expires),
    group: spec.group ?? null,
    group_index: spec.groupIndex ?? null,
    retries: spec.retries ?? 0,
    timelimit: [spec.timeLimit ?? null, spec.softTimeLimit ?? null],
    root_id: spec.rootId || spec.id,
    parent_id: spec.parentId ?? null,
    argsrepr: spec.argsrepr ?? pyReprArgs(spec.args),
    kwargsrepr: spec.kwargsrepr ?? pyReprKwargs(spec.kwargs),
    origin: spec.origin,
    ignore_result: spec.ignoreResult ?? false,
    ...spec.headers,
  };
  // Serialized after the headers are final: strict signing signs some of them with the body.
  let body = serializer.encode([spec.args, spec.kwargs, embed], headers);
  if (options.compression) {
    const compressed = compress(options.compression, body);
    headers.compression = compressed.mime;
    body = compressed.data;
  }
  const properties: Record<string, JsonValue> = {
    ...spec.properties,
    correlation_id: spec.id,
    reply_to: spec.replyTo,
    delivery_mode: spec.deliveryMode ?? 2,
    priority: spec.priority ?? 0,
  };
  if (spec.expires != null) {
    properties.expiration = String(Math.max(0, Math.round(spec.expires - options.now)));
  }
  return {
    headers,
    properties,
    contentType: serializer.contentType,
    contentEncoding: serializer.contentEncoding,
    body,
  };
}

/** A decoded task message, protocol v1 and hybrid messages converted to v2. */
export interface TaskMessage {
  protocol: 1 | 2;
  id: string;
  task: string;
  args: JsonValue[];
  kwargs: JsonObject;
  embed: Embed;
  /** Milliseconds since the epoch, or null. */
  eta: number | null;
  expires: number | null;
  retries: number;
  timelimit: [number | null, number | null];
  group: string | null;
  groupIndex: number | null;
  rootId: string | null;
  parentId: string | null;
  shadow: string | null;
  origin: string | null;
  argsrepr: string | null;
  kwargsrepr: string | null;
  ignoreResult: boolean;
  lang: string | null;
  replyTo: string | null;
  correlationId: string | null;
  priority: number | null;
  /** Every header as received, custom ones included. */
  headers: Record<string, JsonValue>;
  properties: Record<string, JsonValue>;
}

function fail(reason: string, message: string, partial?: { id?: unknown; task?: unknown }): never {
  const error = new InvalidTaskError(reason, message);
  if (partial) Object.assign(error, identity(partial));
  throw error;
}

function identity(partial: { id?: unknown; task?: unknown }): { taskId?: string; taskName?: string } {
  const out: { taskId?: string; taskName?: string } = {};
  if (typeof partial.id === 'string' && partial.id) out.taskId = partial.id;
  if (typeof partial.task === 'string' && partial.task) out.taskName = partial.task;
  return out;
}

function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: JsonValue | undefined): string | null {
  return typeof value === 'string' ? value : null;
}

function parseTime(
  value: JsonValue | undefined,
  field: 'eta' | 'expires',
  h: Record<string, JsonValue>,
): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number' && Number.isFinite(value)) return value * 1000;
  const ms = typeof value === 'string' ? parseIso(value) : null;
  if (ms === null)
    fail(`invalid-${field}`, `invalid ${field.toUpperCase()} value ${JSON.stringify(value)}`, h);
  return ms;
}

function parseTimelimit(
  value: JsonValue | undefined,
  h: Record<string, JsonValue>,
): [number | null, number | null] {
  if (value === null || value === undefined) return [null, null];
  const limit = (v: JsonValue | undefined): number | null => {
    if (v === null || v === undefined) return null;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
    return fail('invalid-header:timelimit', `invalid timelimit header ${JSON.stringify(value)}`, h);
  };
  if (!Array.isArray(value))
    fail('invalid-header:timelimit', `invalid timelimit header ${JSON.stringify(value)}`, h);
  return [limit(value[0]), limit(value[1])];
}

function parseRetries(value: JsonValue | undefined, h: Record<string, JsonValue>): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  return fail(
    'invalid-header:retries',
    `invalid retries header ${JSON.stringify(value)}: expected a non-negative integer`,
    h,
  );
}

function parseEmbed(value: JsonValue | undefined, h: Record<string, JsonValue>): Embed {
  if (value === null || value === undefined) return { ...EMPTY_EMBED };
  if (!isObject(value))
    return fail('body-shape', 'the third element of the body (embed) is not an object', h);
  const list = (v: JsonValue | undefined, name: string): SignatureDict[] | null => {
    if (v === null || v === undefined) return null;
    if (!Array.isArray(v) || !v.every(isObject))
      return fail('body-shape', `embed.${name} is not a list of signatures`, h);
    return v as SignatureDict[];
  };
  const chord = value.chord;
  if (chord !== null && chord !== undefined && !isObject(chord))
    fail('body-shape', 'embed.chord is not a signature', h);
  return {
    callbacks: list(value.callbacks, 'callbacks'),
    errbacks: list(value.errbacks, 'errbacks'),
    chain: list(value.chain, 'chain'),
    chord: (chord ?? null) as SignatureDict | null,
  };
}

/** Reads the body bytes: accept-list check, decompression, deserialization. */
function readBody(
  wire: WireMessage,
  accept: AcceptPolicy,
  h: Record<string, JsonValue>,
  maxBodySize: number | undefined,
): unknown {
  let data = wire.body;
  const compression = h.compression;
  try {
    if (typeof compression === 'string' && compression) data = decompress(compression, data, maxBodySize);
    return accept.decode(wire.contentType, data, h);
  } catch (error) {
    return fail(bodyErrorReason(error, compression), (error as Error).message, h);
  }
}

/** The reject reason for a body that could not be read: SecurityError and size errors carry their own. */
function bodyErrorReason(error: unknown, compression: JsonValue | undefined): string {
  if ((error as Error).name === 'ContentDisallowed') return 'content-type-not-accepted';
  const reason = (error as { reason?: unknown }).reason;
  if (typeof reason === 'string') return reason;
  return compression ? 'bad-compression' : 'body-decode-error';
}

export interface DecodeOptions {
  /** Largest body accepted after decompression (`maxMessageSize`); a bigger one is refused, not inflated. */
  maxBodySize?: number | undefined;
}

/**
 * Decodes a received message into a TaskMessage. Throws InvalidTaskError with a short `reason` code (and the
 * task id and name when the headers had them) for anything that is not a valid task message.
 */
export function decodeTaskMessage(
  wire: WireMessage,
  accept: AcceptPolicy,
  options: DecodeOptions = {},
): TaskMessage {
  let headers = wire.headers;
  if (!isObject(headers)) headers = {};
  let payload = readBody(wire, accept, headers, options.maxBodySize);
  let protocol: 1 | 2 = 2;
  if (isObject(payload)) {
    // Protocol v1 (no task header) or hybrid (v2 headers, v1 body): convert as celery/worker/strategy.py does.
    if (typeof headers.task !== 'string' && typeof payload.task !== 'string') {
      fail(
        'unknown-format',
        'message has no task header and its body is not a v1 task: unknown message format',
      );
    }
    const converted = v1BodyToV2(payload, headers, typeof headers.task === 'string');
    headers = converted.headers;
    payload = converted.body;
    protocol = converted.protocol;
  } else if (typeof headers.task !== 'string') {
    fail('unknown-format', 'message has no task header: not a Celery task message (wrong destination?)');
  }
  const task = headers.task;
  const id = headers.id;
  if (typeof task !== 'string' || task === '')
    fail('missing-task', 'message has an empty task name', headers);
  if (typeof id !== 'string' || id === '')
    fail('missing-id', `message for task ${task} has no id header`, headers);
  if (!Array.isArray(payload) || payload.length < 2 || payload.length > 3) {
    fail('body-shape', 'body is not [args, kwargs, embed]', headers);
  }
  const [args, kwargs, embed] = payload as JsonValue[];
  if (!Array.isArray(args))
    fail('invalid-args', `task args must be a list, got ${JSON.stringify(args)}`, headers);
  if (!isObject(kwargs)) fail('invalid-kwargs', 'task keyword arguments must be a mapping', headers);
  const props = isObject(wire.properties) ? wire.properties : {};
  const priority = props.priority;
  return {
    protocol,
    id,
    task,
    args,
    kwargs,
    embed: parseEmbed(embed, headers),
    eta: parseTime(headers.eta, 'eta', headers),
    expires: parseTime(headers.expires, 'expires', headers),
    retries: parseRetries(headers.retries, headers),
    timelimit: parseTimelimit(headers.timelimit, headers),
    group: optionalString(headers.group),
    groupIndex: typeof headers.group_index === 'number' ? headers.group_index : null,
    rootId: optionalString(headers.root_id),
    parentId: optionalString(headers.parent_id),
    shadow: optionalString(headers.shadow),
    origin: optionalString(headers.origin),
    argsrepr: optionalString(headers.argsrepr),
    kwargsrepr: optionalString(headers.kwargsrepr),
    ignoreResult: headers.ignore_result === true,
    lang: optionalString(headers.lang),
    replyTo: optionalString(props.reply_to),
    correlationId: optionalString(props.correlation_id),
    priority: typeof priority === 'number' ? priority : null,
    headers,
    properties: props,
  };
}

/** The task id and name a message claims, without decoding its body; for error reports on undecodable messages. */
export function peekIdentity(wire: WireMessage): { taskId?: string; taskName?: string } {
  return isObject(wire.headers) ? identity(wire.headers) : {};
}
