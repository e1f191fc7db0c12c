/**
 * JSON as kombu writes it: UTF-8, dates as ISO-8601 strings. BigInt and functions cannot be encoded and fail
 * with a message that names the value, instead of being dropped.
 */
import { EncodeError } from '../../errors.js';
import type { Serializer } from './index.js';

function replacer(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'bigint') {
    throw new EncodeError(
      `Cannot encode BigInt ${value} at "${key}" as JSON: convert it to a string or number`,
    );
  }
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new EncodeError(`Cannot encode a ${typeof value} at "${key}" as JSON`);
  }
  return value;
}

export function encodeJson(value: unknown): string {
  try {
    return JSON.stringify(value, replacer);
  } catch (error) {
    if (error instanceof EncodeError) throw error;
    throw new EncodeError(`Cannot encode value as JSON: ${(error as Error).message}`);
  }
}

export const jsonSerializer: Serializer = {
  name: 'json',
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  encode: (value) => Buffer.from(encodeJson(value), 'utf8'),
  decode: (data) => JSON.parse(data.toString('utf8')) as unknown,
};
