/**
 * JSON as kombu writes it: UTF-8, dates as ISO-8601 strings. Integers beyond 2^53 (a Python int of any size)
 * travel exactly: they decode as BigInt and a BigInt encodes as a JSON integer. Both take a slow path only when
 * needed (a run of 16 digits in the text; a BigInt in the value), so ordinary messages cost what JSON.parse and
 * JSON.stringify cost. Functions, symbols and bytes (Buffer, typed arrays) are refused with the value's path, as
 * kombu's JSON refuses bytes: encode them as base64 text or use the msgpack serializer.
 */
import { randomBytes } from 'node:crypto';
import { isInteger, parse } from 'lossless-json';
import { EncodeError } from '../../errors.js';
import type { Serializer } from './index.js';

/** Thrown inside JSON.stringify to switch to the BigInt-aware path. */
const BIGINT_SEEN = new Error('a BigInt: take the BigInt-aware path');

function refusal(this: unknown, key: string, value: unknown): EncodeError | undefined {
  if (typeof value === 'function' || typeof value === 'symbol') {
    return new EncodeError(`Cannot encode a ${typeof value} at "${key}" as JSON`);
  }
  if (
    typeof value === 'object' &&
    value !== null &&
    ArrayBuffer.isView((this as Record<string, unknown>)[key])
  ) {
    return new EncodeError('bytes');
  }
  return undefined;
}

/**
 * A double beyond 2^53 that JSON.stringify writes as digits (below 1e21) but in its shortest form, which is not
 * its exact value (57625512782126088 written as ...090): written exactly instead, so that it decodes as itself.
 */
function inexactDigits(value: number): boolean {
  return (
    (value > Number.MAX_SAFE_INTEGER && value < 1e21) || (value < -Number.MAX_SAFE_INTEGER && value > -1e21)
  );
}

function fastReplacer(this: unknown, key: string, value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (inexactDigits(value)) throw BIGINT_SEEN;
      return value;
    case 'bigint':
      throw BIGINT_SEEN;
    default: {
      const refused = refusal.call(this, key, value);
      if (refused) throw refused;
      return value;
    }
  }
}

/** The path of the first bytes value in `value` (`$.result[2].data`), for the error message. */
function bytesPath(value: unknown, path = '$', seen = new Set<unknown>()): string | null {
  if (ArrayBuffer.isView(value)) return path;
  if (typeof value !== 'object' || value === null || seen.has(value)) return null;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = bytesPath(value[i], `${path}[${i}]`, seen);
      if (found) return found;
    }
    return null;
  }
  for (const [key, item] of Object.entries(value)) {
    const found = bytesPath(
      item,
      /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`,
      seen,
    );
    if (found) return found;
  }
  return null;
}

function bytesRefusal(value: unknown): EncodeError {
  const path = bytesPath(value) ?? 'a value';
  return new EncodeError(
    `Cannot encode bytes (a Buffer or typed array) at ${path} as JSON: kombu's JSON has no bytes type. ` +
      `Encode it as text (buffer.toString('base64')) or use the msgpack serializer`,
  );
}

/** JSON.stringify with BigInt written as an integer: each BigInt becomes a token string, then the token's digits. */
function encodeWithBigInt(value: unknown): string {
  const mark = `bigint${randomBytes(6).toString('hex')}:`;
  const token = `\u0001${mark}`;
  const text = JSON.stringify(value, function (this: unknown, key: string, item: unknown) {
    if (typeof item === 'bigint') return token + item.toString();
    if (typeof item === 'number' && inexactDigits(item)) return token + BigInt(item).toString();
    const refused = refusal.call(this, key, item);
    if (refused) throw refused;
    return item;
  });
  // JSON.stringify writes the control character as \u0001, and no user string can hold the random mark.
  return text.replace(new RegExp(`"\\\\u0001${mark}(-?\\d+)"`, 'g'), '$1');
}

export function encodeJson(value: unknown): string {
  try {
    return JSON.stringify(value, fastReplacer);
  } catch (error) {
    try {
      if (error === BIGINT_SEEN) return encodeWithBigInt(value);
      throw error;
    } catch (inner) {
      if (inner instanceof EncodeError) throw inner.message === 'bytes' ? bytesRefusal(value) : inner;
      throw new EncodeError(`Cannot encode value as JSON: ${(inner as Error).message}`);
    }
  }
}

/**
 * An integer a double cannot hold exactly as BigInt; every other number as JSON.parse reads it (so 2^53 or 10^20,
 * which a double holds exactly, stay numbers, and a JS number, written with its exact digits, decodes as itself).
 */
function parseNumber(text: string): number | bigint {
  const n = Number(text);
  if (Number.isSafeInteger(n) || !isInteger(text) || !Number.isFinite(n)) return n;
  const exact = BigInt(text);
  return BigInt(n) === exact ? n : exact;
}

function isDigit(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 48 && c <= 57;
}

/**
 * Whether the text holds 16 digits in a row, the shortest text of an integer beyond 2^53 (9007199254740993). Reads
 * every 16th character (any such run covers one) and looks around digits only: a fraction of a regular expression's
 * cost, so ordinary messages pay next to nothing for the check.
 */
export function hasLongDigitRun(text: string): boolean {
  for (let i = 15; i < text.length; i += 16) {
    if (!isDigit(text, i)) continue;
    let start = i;
    while (start > 0 && isDigit(text, start - 1)) start--;
    let end = i;
    while (end + 1 < text.length && isDigit(text, end + 1)) end++;
    if (end - start >= 15) return true;
    i = end;
  }
  return false;
}

/** JSON.parse, except that integers a double cannot hold decode as BigInt (the exact value a Python int had). */
export function decodeJson(text: string): unknown {
  if (!hasLongDigitRun(text)) return JSON.parse(text);
  return parse(text, null, parseNumber);
}

export const jsonSerializer: Serializer = {
  name: 'json',
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  encode: (value) => Buffer.from(encodeJson(value), 'utf8'),
  decode: (data) => decodeJson(data.toString('utf8')),
};
