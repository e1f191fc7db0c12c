/**
 * Celeriac's strict signing mode (opt in, beyond Celery). Celery's `auth` serializer signs only the body, so a
 * party that can write to the broker can take a signed message and change the headers that decide what runs
 * (which task, which id, when), or send the same message again a year later. Strict mode signs those headers
 * with the body, with the time of signing, and refuses a message whose headers differ from what was signed or
 * whose signature is older than the replay window.
 *
 * The wire layout is Celery's signed layout, but the outer content type is `application/x-celeriac-signed` and
 * the signed body is `{"celeriac_strict": 1, "signed_at": <seconds>, "headers": {...}, "body": [args, kwargs,
 * embed]}`, so Python Celery workers refuse these messages (content type not accepted) rather than misread them.
 */
import { SecurityError } from '../errors.js';
import type { JsonValue } from '../types.js';

export const STRICT_CONTENT_TYPE = 'application/x-celeriac-signed';

/** Headers signed in strict mode: those that choose the task, its identity, its time and its workflow place. */
export const SIGNED_HEADERS = [
  'task',
  'id',
  'eta',
  'expires',
  'retries',
  'root_id',
  'parent_id',
  'group',
  'group_index',
  'timelimit',
] as const;

export interface StrictOptions {
  /**
   * Milliseconds a signature stays valid after it was made, or after the message's ETA when that is later. A
   * message delivered later than this (a replay, or a message left queued too long) is refused.
   */
  readonly windowMs: number;
}

/** Clocks of producer and worker may disagree by this much without a message being "from the future". */
const CLOCK_SKEW_MS = 60_000;

function refuse(message: string, reason: string): never {
  throw new SecurityError(message, reason);
}

function canonical(value: JsonValue | undefined): string {
  return JSON.stringify(value ?? null);
}

/** What strict mode signs for a message: the value and the headers that decide what runs, stamped with `now`. */
export function sealStrict(
  value: unknown,
  headers: Readonly<Record<string, JsonValue>>,
  now: number,
): Record<string, unknown> {
  const signed: Record<string, JsonValue> = {};
  for (const name of SIGNED_HEADERS) signed[name] = headers[name] ?? null;
  return { celeriac_strict: 1, signed_at: now / 1000, headers: signed, body: value };
}

function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Seconds since the epoch in a header, as Celery writes `eta` (ISO-8601) or a number; null when absent. */
function etaMs(value: JsonValue | undefined): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value * 1000;
  if (typeof value !== 'string' || value === '') return null;
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  return Number.isNaN(ms) ? null : ms;
}

/** Checks a verified strict payload against the received headers and the clock; returns the body. */
export function openStrict(
  payload: unknown,
  headers: Readonly<Record<string, JsonValue>>,
  now: number,
  options: StrictOptions,
): unknown {
  if (!isObject(payload) || payload.celeriac_strict !== 1 || !isObject(payload.headers)) {
    refuse(
      'Signed message has no signed headers: strict mode accepts only strict-signed messages',
      'strict-format',
    );
  }
  const signedAt = payload.signed_at;
  if (typeof signedAt !== 'number' || !Number.isFinite(signedAt))
    refuse('Signed message has no signing time', 'strict-format');
  const signed = payload.headers;
  for (const name of SIGNED_HEADERS) {
    if (canonical(signed[name]) !== canonical(headers[name])) {
      refuse(
        `Header ${name} was changed after signing: signed ${canonical(signed[name])}, received ${canonical(headers[name])}`,
        'header-mismatch',
      );
    }
  }
  const signedMs = signedAt * 1000;
  if (signedMs > now + CLOCK_SKEW_MS) {
    refuse(
      `Signed ${((signedMs - now) / 1000).toFixed(0)}s in the future: check the clocks of producer and worker`,
      'replay-window',
    );
  }
  const validFrom = Math.max(signedMs, etaMs(signed.eta) ?? signedMs);
  if (now > validFrom + options.windowMs) {
    refuse(
      `Signed at ${new Date(signedMs).toISOString()}, outside the replay window of ${options.windowMs / 1000}s ` +
        '(a replayed message, or one that waited in the queue longer than the window)',
      'replay-window',
    );
  }
  return payload.body;
}
