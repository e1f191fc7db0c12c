/**
 * AMQP field tables (message headers, queue arguments) as py-amqp writes and reads them, so that Python Celery and
 * Celeriac see the same values whichever side produced a message.
 *
 * - Writing: py-amqp encodes a Python int as `I` (signed 32-bit) and beyond that range as `L` (signed 64-bit),
 *   None as `V` (void), str as `S`, float as `d`, bool as `t`, dict as `F`, list as `A`
 *   (`amqp/serialization.py _write_item`). amqplib on its own picks the smallest integer type (`b` for 0..127),
 *   which py-amqp reads back as an *unsigned* byte, so we tag every integer explicitly.
 * - Reading: amqplib 2.3 does not know the `L` tag and closes the whole connection on it; `decodeFieldTable`
 *   replaces its decoder (see amqplib.ts) with one that reads `L` and never throws.
 */
import type { JsonValue } from '../../types.js';

/** Header set on a table that could not be decoded, so the driver can reject that message with a reason. */
export const UNDECODABLE_HEADERS = 'x-celeriac-undecodable-headers';

/** py-amqp's int32 range: it writes `I` for -2147483647..2147483647 (`serialization.py:368`). */
const INT32_MAX = 2147483647;

type Tagged = { '!': string; value: unknown };

function fieldNumber(n: number): number | Tagged {
  if (Number.isInteger(n)) {
    if (n >= -INT32_MAX && n <= INT32_MAX) return { '!': 'int', value: n };
    // amqplib can only write 64-bit integers as `l`, which py-amqp reads as unsigned: right for positive values.
    // A negative one goes as a double so that Python at least reads the right number (as a float).
    if (n > 0) return { '!': 'long', value: n };
  }
  return { '!': 'double', value: n };
}

function toFieldValue(value: JsonValue | undefined): unknown {
  if (typeof value === 'number') return fieldNumber(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(toFieldValue);
  return toFieldTable(value);
}

/** A JSON object as an amqplib field table, with every number tagged the way py-amqp would write it. */
export function toFieldTable(
  table: Readonly<Record<string, JsonValue | undefined>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in table) {
    const value = table[key];
    if (value !== undefined) out[key] = toFieldValue(value);
  }
  return out;
}

function isTagged(value: object): value is Tagged {
  return Object.hasOwn(value, '!');
}

function toJson(value: unknown): JsonValue {
  if (value === null || typeof value !== 'object') {
    return value === undefined ? null : (value as JsonValue);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = toJson(value[i]);
    return value as JsonValue[];
  }
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (isTagged(value)) {
    if (value['!'] === 'decimal') {
      const { places, digits } = value.value as { places: number; digits: number };
      return digits / 10 ** places;
    }
    // Timestamps (`T`, e.g. in RabbitMQ's x-death records) become seconds since the epoch.
    return typeof value.value === 'number' ? value.value : null;
  }
  return toJsonTable(value as Record<string, unknown>);
}

/** Turns a decoded table into JSON values, in place (the table is freshly decoded and ours). */
export function toJsonTable(table: Record<string, unknown>): Record<string, JsonValue> {
  for (const key in table) table[key] = toJson(table[key]);
  return table as Record<string, JsonValue>;
}

class Reader {
  offset = 0;
  constructor(readonly buf: Buffer) {}

  table(end: number): Record<string, unknown> {
    const table: Record<string, unknown> = {};
    while (this.offset < end) {
      const len = this.buf.readUInt8(this.offset++);
      const key = this.buf.toString('utf8', this.offset, this.offset + len);
      this.offset += len;
      table[key] = this.value();
    }
    return table;
  }

  private value(): unknown {
    const { buf } = this;
    const tag = String.fromCharCode(buf.readUInt8(this.offset++));
    const at = this.offset;
    switch (tag) {
      case 'S':
      case 'x': {
        const len = buf.readUInt32BE(at);
        const start = at + 4;
        if (start + len > buf.length) throw new RangeError('string runs past the end of the table');
        this.offset = start + len;
        return tag === 'S' ? buf.toString('utf8', start, start + len) : buf.subarray(start, start + len);
      }
      case 'F':
      case 'A': {
        const end = at + 4 + buf.readUInt32BE(at);
        if (end > buf.length) throw new RangeError('nested table runs past the end of the table');
        this.offset = at + 4;
        if (tag === 'F') return this.table(end);
        const items: unknown[] = [];
        while (this.offset < end) items.push(this.value());
        return items;
      }
      case 't':
        this.offset = at + 1;
        return buf.readUInt8(at) !== 0;
      case 'b':
        this.offset = at + 1;
        return buf.readInt8(at);
      case 'B':
        this.offset = at + 1;
        return buf.readUInt8(at);
      case 's':
      case 'U':
        this.offset = at + 2;
        return buf.readInt16BE(at);
      case 'u':
        this.offset = at + 2;
        return buf.readUInt16BE(at);
      case 'I':
        this.offset = at + 4;
        return buf.readInt32BE(at);
      case 'i':
        this.offset = at + 4;
        return buf.readUInt32BE(at);
      // `L` is what py-amqp writes for ints beyond 32 bits (signed); `l` is the RabbitMQ spelling.
      case 'l':
      case 'L':
        this.offset = at + 8;
        return Number(buf.readBigInt64BE(at));
      case 'f':
        this.offset = at + 4;
        return buf.readFloatBE(at);
      case 'd':
        this.offset = at + 8;
        return buf.readDoubleBE(at);
      case 'D':
        this.offset = at + 5;
        return { '!': 'decimal', value: { places: buf.readUInt8(at), digits: buf.readUInt32BE(at + 1) } };
      case 'T':
        this.offset = at + 8;
        return { '!': 'timestamp', value: Number(buf.readBigUInt64BE(at)) };
      case 'V':
        return null;
      default:
        throw new TypeError(`Unexpected type tag "${tag}"`);
    }
  }
}

/**
 * Decodes a field table as amqplib does (same value shapes), plus the `L` tag. It never throws: a table it
 * cannot read decodes to `{ [UNDECODABLE_HEADERS]: reason }`, because an exception here would close the
 * connection and the broker would redeliver the same message forever.
 */
export function decodeFieldTable(slice: Buffer): Record<string, unknown> {
  const reader = new Reader(slice);
  try {
    return reader.table(slice.length);
  } catch (error) {
    return { [UNDECODABLE_HEADERS]: (error as Error).message };
  }
}
