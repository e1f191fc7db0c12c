/**
 * Turning a call into a task message: pure, so that every calling option can be tested without a broker.
 * Mirrors `celery/app/base.py:704 send_task` and `celery/app/amqp.py:280 as_task_v2`.
 */
import { EncodeError } from '../errors.js';
import { parseIso } from '../protocol/time.js';
import type { SignatureDict, TaskMessageSpec } from '../protocol/message.js';
import type { JsonValue } from '../types.js';
import type { Config } from './config.js';
import type { TaskScope } from './context.js';
import type { ResolvedRoute, Router } from './routing.js';
import type { CallOptions, SignatureLike } from './task.js';

export interface PreparedCall {
  spec: TaskMessageSpec;
  routed: ResolvedRoute;
  serializer: string;
  compression: string | null;
  ignoreResult: boolean;
}

export function toSignatureDict(sig: SignatureLike): SignatureDict {
  return 'toDict' in sig && typeof sig.toDict === 'function' ? sig.toDict() : (sig as SignatureDict);
}

function signatureList(value: SignatureLike | readonly SignatureLike[] | undefined): SignatureDict[] | null {
  if (value === undefined) return null;
  const list = Array.isArray(value) ? (value as readonly SignatureLike[]) : [value as SignatureLike];
  return list.length === 0 ? null : list.map(toSignatureDict);
}

/** Milliseconds since the epoch for an `eta` option, or a clear error. */
export function etaToMs(eta: Date | string | number): number {
  if (eta instanceof Date) {
    if (Number.isNaN(eta.getTime())) throw new TypeError('eta is an invalid Date');
    return eta.getTime();
  }
  if (typeof eta === 'number') {
    if (!Number.isFinite(eta)) throw new TypeError(`eta must be a finite number of milliseconds, got ${eta}`);
    return eta;
  }
  const ms = parseIso(eta);
  if (ms === null)
    throw new TypeError(`eta "${eta}" is not an ISO-8601 timestamp such as 2026-11-24T18:00:00Z`);
  return ms;
}

function seconds(name: string, value: number): number {
  if (!Number.isFinite(value))
    throw new TypeError(`${name} must be a finite number of seconds, got ${value}`);
  return value;
}

export interface CallContext {
  conf: Config;
  router: Router;
  oid: string;
  origin: string;
  now: number;
  /** The task running in this async context, whose id becomes the parent of this call. */
  scope: TaskScope | undefined;
  taskId: string;
}

export function prepareCall(
  ctx: CallContext,
  name: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  options: CallOptions,
): PreparedCall {
  if (!Array.isArray(args)) throw new TypeError(`task args must be an array, got ${typeof args}`);
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    throw new TypeError('task keyword arguments must be an object');
  }
  const { conf } = ctx;
  let eta: number | null = null;
  if (options.countdown !== undefined && options.countdown !== 0) {
    eta = ctx.now + seconds('countdown', options.countdown) * 1000;
  } else if (options.eta !== undefined) {
    eta = etaToMs(options.eta);
  }
  let expires: number | null = null;
  if (options.expires !== undefined) {
    expires =
      options.expires instanceof Date
        ? options.expires.getTime()
        : ctx.now + seconds('expires', options.expires) * 1000;
  }
  const parent = ctx.scope?.request;
  const inherited =
    conf.taskInheritParentPriority && parent?.deliveryInfo.priority != null
      ? parent.deliveryInfo.priority
      : undefined;
  const routed = ctx.router.route(name, args, kwargs, {
    queue: options.queue,
    exchange: options.exchange,
    exchangeType: options.exchangeType,
    routingKey: options.routingKey,
    priority: options.priority ?? inherited,
  });
  const ignoreResult = options.ignoreResult ?? conf.taskIgnoreResult;
  const spec: TaskMessageSpec = {
    id: ctx.taskId,
    task: name,
    args,
    kwargs,
    embed: {
      callbacks: signatureList(options.link),
      errbacks: signatureList(options.linkError),
      chain: options.chain ? [...options.chain] : null,
      chord: options.chord ?? null,
    },
    eta,
    expires,
    retries: options.retries ?? 0,
    // Only explicit and task-level limits travel (as Celery): taskTimeLimit is the worker's default to apply.
    timeLimit: options.timeLimit ?? null,
    softTimeLimit: options.softTimeLimit ?? null,
    group: options.groupId ?? null,
    groupIndex: options.groupIndex ?? null,
    rootId: options.rootId ?? parent?.rootId ?? parent?.id ?? null,
    parentId: options.parentId ?? parent?.id ?? null,
    shadow: options.shadow ?? null,
    origin: ctx.origin,
    replyTo: options.replyTo ?? ctx.oid,
    ignoreResult,
    argsrepr: options.argsrepr,
    kwargsrepr: options.kwargsrepr,
    headers: options.headers,
    priority: routed.priority,
    deliveryMode: options.deliveryMode ?? conf.taskDefaultDeliveryMode,
  };
  return {
    spec,
    routed,
    serializer: options.serializer ?? conf.taskSerializer,
    compression: options.compression ?? conf.taskCompression,
    ignoreResult,
  };
}

export function checkMessageSize(name: string, bytes: number, limit: number): void {
  if (bytes > limit) {
    throw new EncodeError(
      `Message for task ${name} is ${bytes} bytes, over the maxMessageSize limit of ${limit} bytes: ` +
        'pass a reference (a URL, a key) instead of the data, or raise maxMessageSize',
    );
  }
}

function str(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function num(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function sigs(value: JsonValue | undefined): SignatureDict[] | undefined {
  if (value === null || value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is SignatureDict => typeof v === 'object' && v !== null && !Array.isArray(v));
}

/**
 * Calling options from a signature's `options` dict (Celery's snake_case apply_async keywords), for signatures
 * that arrive in messages: callbacks, errbacks, chain links and chord bodies.
 */
export function callOptionsFromSignature(options: Readonly<Record<string, JsonValue>>): CallOptions {
  const out: CallOptions = {};
  const set = <K extends keyof CallOptions>(key: K, value: CallOptions[K] | undefined): void => {
    if (value !== undefined) out[key] = value;
  };
  set('taskId', str(options.task_id));
  set('queue', str(options.queue));
  set('exchange', str(options.exchange));
  set('routingKey', str(options.routing_key));
  set('priority', num(options.priority));
  set('countdown', num(options.countdown));
  const eta = options.eta;
  if (typeof eta === 'string' || typeof eta === 'number')
    out.eta = typeof eta === 'number' ? eta * 1000 : eta;
  const expires = options.expires;
  if (typeof expires === 'number') out.expires = expires;
  else if (typeof expires === 'string' && parseIso(expires) !== null)
    out.expires = new Date(parseIso(expires)!);
  set('timeLimit', num(options.time_limit));
  set('softTimeLimit', num(options.soft_time_limit));
  set('shadow', str(options.shadow));
  set('serializer', str(options.serializer));
  set('compression', str(options.compression));
  set('replyTo', str(options.reply_to));
  set('groupId', str(options.group_id));
  set('groupIndex', num(options.group_index));
  set('rootId', str(options.root_id));
  set('parentId', str(options.parent_id));
  if (typeof options.ignore_result === 'boolean') out.ignoreResult = options.ignore_result;
  const headers = options.headers;
  if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) out.headers = headers;
  set('link', sigs(options.link));
  set('linkError', sigs(options.link_error));
  const chord = options.chord;
  if (typeof chord === 'object' && chord !== null && !Array.isArray(chord))
    out.chord = chord as SignatureDict;
  return out;
}
