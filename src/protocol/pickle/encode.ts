/**
 * Writing plain data as a Python pickle, byte for byte as CPython's C pickler (`_pickle.c`) writes the same value
 * with `protocol=4` when no object appears twice: the same opcodes, MEMOIZE after every str, bytes and container,
 * batches of 1,000 items, and 64 KiB frames (a frame under 4 bytes gets no FRAME header; a str or bytes of 64 KiB
 * or more is written outside any frame). Protocol 4 is read by every Python that Celery 5.2 supports (3.7+).
 */
import { EncodeError } from '../../errors.js';
import { encodeUtf8 } from './text.js';
import { PickleCall, PickleGlobal, PickleTuple, type PickleInput } from './values.js';

const FRAME_TARGET = 64 * 1024;
const FRAME_MIN = 4;
const FRAME_HEADER = 9;
const BATCH = 1000;
const MAX_DEPTH = 1000;

const op = {
  MARK: 0x28,
  STOP: 0x2e,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT1: 0x4b,
  BININT2: 0x4d,
  BININT: 0x4a,
  LONG1: 0x8a,
  LONG4: 0x8b,
  BINFLOAT: 0x47,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE: 0x58,
  BINUNICODE8: 0x8d,
  SHORT_BINBYTES: 0x43,
  BINBYTES: 0x42,
  BINBYTES8: 0x8e,
  EMPTY_LIST: 0x5d,
  EMPTY_DICT: 0x7d,
  EMPTY_TUPLE: 0x29,
  EMPTY_SET: 0x8f,
  APPEND: 0x61,
  APPENDS: 0x65,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  ADDITEMS: 0x90,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  PROTO: 0x80,
  STACK_GLOBAL: 0x93,
  REDUCE: 0x52,
} as const;

/** A growable byte buffer with the C pickler's framing. */
class Output {
  private buf = Buffer.allocUnsafe(256);
  private pos = 0;
  private frameStart = -1;
  framing = false;

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private startFrame(): void {
    if (this.framing && this.frameStart === -1) {
      this.frameStart = this.pos;
      this.reserve(FRAME_HEADER);
      this.pos += FRAME_HEADER;
    }
  }

  byte(value: number): void {
    this.startFrame();
    this.reserve(1);
    this.buf[this.pos++] = value;
  }

  bytes(data: Uint8Array): void {
    this.startFrame();
    this.reserve(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** An opcode with a length header and its payload; a large payload goes outside any frame. */
  counted(header: Uint8Array, payload: Uint8Array): void {
    if (payload.length < FRAME_TARGET) {
      this.bytes(header);
      this.bytes(payload);
      return;
    }
    this.commitFrame();
    const framing = this.framing;
    this.framing = false;
    this.bytes(header);
    this.bytes(payload);
    this.framing = framing;
  }

  commitFrame(): void {
    if (this.frameStart === -1) return;
    const length = this.pos - this.frameStart - FRAME_HEADER;
    if (length >= FRAME_MIN) {
      this.buf[this.frameStart] = op.FRAME;
      this.buf.writeBigUInt64LE(BigInt(length), this.frameStart + 1);
    } else {
      this.buf.copy(this.buf, this.frameStart, this.frameStart + FRAME_HEADER, this.pos);
      this.pos -= FRAME_HEADER;
    }
    this.frameStart = -1;
  }

  /** Called before each value is saved, as `pickle.py` does: a frame that reached 64 KiB is closed. */
  boundary(): void {
    if (this.frameStart !== -1 && this.pos - this.frameStart - FRAME_HEADER >= FRAME_TARGET)
      this.commitFrame();
  }

  result(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos).slice();
  }
}

function header(opcode: number, size: number, length: number): Uint8Array {
  const out = Buffer.alloc(1 + size);
  out[0] = opcode;
  if (size === 1) out[1] = length;
  else if (size === 4) out.writeUInt32LE(length, 1);
  else out.writeBigUInt64LE(BigInt(length), 1);
  return out;
}

/** Python's `pickle.encode_long`: the shortest little-endian two's complement form. */
export function encodeLong(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array(0);
  const magnitude = value < 0n ? -value : value;
  const nbytes = Math.floor(magnitude.toString(2).length / 8) + 1;
  let n = BigInt.asUintN(nbytes * 8, value);
  const out = new Uint8Array(nbytes);
  for (let i = 0; i < nbytes; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  if (value < 0n && nbytes > 1 && out[nbytes - 1] === 0xff && (out[nbytes - 2]! & 0x80) !== 0) {
    return out.subarray(0, nbytes - 1);
  }
  return out;
}

class Pickler {
  readonly out = new Output();
  private readonly active = new Set<object>();

  memoize(): void {
    this.out.byte(op.MEMOIZE);
  }

  save(value: unknown, depth: number): void {
    this.out.boundary();
    this.saveValue(value, depth);
  }

  private saveValue(value: unknown, depth: number): void {
    if (value === null || value === undefined) this.out.byte(op.NONE);
    else if (typeof value === 'boolean') this.out.byte(value ? op.NEWTRUE : op.NEWFALSE);
    else if (typeof value === 'number') this.saveNumber(value);
    else if (typeof value === 'bigint') this.saveInt(value);
    else if (typeof value === 'string') this.saveStr(value);
    else if (value instanceof Uint8Array) this.saveBytes(value);
    else if (typeof value === 'object') this.saveObject(value, depth);
    else
      throw new EncodeError(`Cannot pickle a ${typeof value}: only plain data can be stored in a database`);
  }

  private saveNumber(value: number): void {
    if (Number.isSafeInteger(value)) {
      this.saveInt(BigInt(value));
      return;
    }
    const out = Buffer.alloc(9);
    out[0] = op.BINFLOAT;
    out.writeDoubleBE(value, 1);
    this.out.bytes(out);
  }

  private saveInt(value: bigint): void {
    if (value >= 0n && value <= 0xffn) this.out.bytes(Uint8Array.of(op.BININT1, Number(value)));
    else if (value >= 0n && value <= 0xffffn) {
      this.out.bytes(Uint8Array.of(op.BININT2, Number(value & 0xffn), Number(value >> 8n)));
    } else if (value >= -0x80000000n && value <= 0x7fffffffn) {
      const out = Buffer.alloc(5);
      out[0] = op.BININT;
      out.writeInt32LE(Number(value), 1);
      this.out.bytes(out);
    } else {
      const data = encodeLong(value);
      if (data.length < 256) this.out.bytes(Uint8Array.of(op.LONG1, data.length));
      else this.out.bytes(header(op.LONG4, 4, data.length));
      this.out.bytes(data);
    }
  }

  private saveStr(value: string): void {
    const data = encodeUtf8(value);
    if (data.length < 256) this.out.counted(header(op.SHORT_BINUNICODE, 1, data.length), data);
    else if (data.length <= 0xffffffff) this.out.counted(header(op.BINUNICODE, 4, data.length), data);
    else this.out.counted(header(op.BINUNICODE8, 8, data.length), data);
    this.memoize();
  }

  private saveBytes(value: Uint8Array): void {
    if (value.length < 256) this.out.counted(header(op.SHORT_BINBYTES, 1, value.length), value);
    else if (value.length <= 0xffffffff) this.out.counted(header(op.BINBYTES, 4, value.length), value);
    else this.out.counted(header(op.BINBYTES8, 8, value.length), value);
    this.memoize();
  }

  private saveObject(value: object, depth: number): void {
    if (depth > MAX_DEPTH) throw new EncodeError(`Cannot pickle data nested deeper than ${MAX_DEPTH} levels`);
    if (this.active.has(value)) throw new EncodeError('Cannot pickle a recursive structure');
    this.active.add(value);
    try {
      if (value instanceof PickleTuple) this.saveTuple(value.items, depth);
      else if (value instanceof PickleGlobal) this.saveGlobal(value);
      else if (value instanceof PickleCall) this.saveCall(value, depth);
      else if (Array.isArray(value)) this.saveList(value, depth);
      else if (value instanceof Set) this.saveSet([...(value as Set<unknown>)], depth);
      else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
        this.saveDict(value as Record<string, unknown>, depth);
      } else {
        throw new EncodeError(
          `Cannot pickle a ${value.constructor?.name ?? 'object'}: only plain data can be stored in a database`,
        );
      }
    } finally {
      this.active.delete(value);
    }
  }

  private saveTuple(items: readonly unknown[], depth: number): void {
    if (items.length === 0) {
      this.out.byte(op.EMPTY_TUPLE);
      return;
    }
    if (items.length > 3) this.out.byte(op.MARK);
    for (const item of items) this.save(item, depth + 1);
    this.out.byte(items.length > 3 ? op.TUPLE : op.TUPLE1 + items.length - 1);
    this.memoize();
  }

  private saveList(items: readonly unknown[], depth: number): void {
    this.out.byte(op.EMPTY_LIST);
    this.memoize();
    if (items.length === 1) {
      this.save(items[0], depth + 1);
      this.out.byte(op.APPEND);
      return;
    }
    for (let start = 0; start < items.length; start += BATCH) {
      this.out.byte(op.MARK);
      for (const item of items.slice(start, start + BATCH)) this.save(item, depth + 1);
      this.out.byte(op.APPENDS);
    }
  }

  /** As `batch_dict_exact`: one pair with SETITEM, else batches of 1,000 (and an empty batch after a full one). */
  private saveDict(dict: Record<string, unknown>, depth: number): void {
    this.out.byte(op.EMPTY_DICT);
    this.memoize();
    const entries = Object.entries(dict).filter(([, v]) => v !== undefined);
    if (entries.length === 1) {
      this.save(entries[0]![0], depth + 1);
      this.save(entries[0]![1], depth + 1);
      this.out.byte(op.SETITEM);
      return;
    }
    if (entries.length === 0) return;
    let start = 0;
    let batch: number;
    do {
      this.out.byte(op.MARK);
      const slice = entries.slice(start, start + BATCH);
      for (const [key, item] of slice) {
        this.save(key, depth + 1);
        this.save(item, depth + 1);
      }
      this.out.byte(op.SETITEMS);
      batch = slice.length;
      start += BATCH;
    } while (batch === BATCH);
  }

  private saveSet(items: readonly unknown[], depth: number): void {
    this.out.byte(op.EMPTY_SET);
    this.memoize();
    let start = 0;
    let batch: number;
    do {
      const slice = items.slice(start, start + BATCH);
      batch = slice.length;
      if (batch > 0) {
        this.out.byte(op.MARK);
        for (const item of slice) this.save(item, depth + 1);
        this.out.byte(op.ADDITEMS);
      }
      start += BATCH;
    } while (batch === BATCH);
  }

  private saveGlobal(value: PickleGlobal): void {
    this.save(value.module, 0);
    this.save(value.name, 0);
    this.out.byte(op.STACK_GLOBAL);
    this.memoize();
  }

  private saveCall(call: PickleCall, depth: number): void {
    this.save(call.callee, depth + 1);
    this.save(new PickleTuple(call.args as PickleInput[]), depth + 1);
    this.out.byte(op.REDUCE);
    this.memoize();
  }
}

/** Writes `value` (a `PickleInput`) as a protocol 4 pickle. Throws EncodeError for values that are not plain data. */
export function dumpPickle(value: unknown): Uint8Array {
  const pickler = new Pickler();
  pickler.out.bytes(Uint8Array.of(op.PROTO, 4));
  pickler.out.framing = true;
  pickler.save(value, 0);
  pickler.out.byte(op.STOP);
  pickler.out.commitFrame();
  return pickler.out.result();
}
