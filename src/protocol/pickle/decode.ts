/**
 * Reading Python pickles (protocols 0 to 5) that hold plain data, without resolving or calling anything: a global,
 * a reduce call or an instance opcode is refused with a PickleError (or, with `inert`, kept as an inert record).
 * Opcode meanings follow Python's `pickletools` documentation.
 *
 * Shared references (memo GET) are copied, so the result is always a tree of fresh plain values; a container that
 * is changed after a reference to it was taken (a recursive structure) is refused, and so is a pickle whose copies
 * would exceed `maxValues` values or that nests deeper than `maxDepth`.
 */
import { decodeQuotedString, decodeRawUnicodeEscape, decodeUtf8, asciiOnly } from './text.js';
import { PickleCall, PickleError, PickleGlobal, type InertValue, type PickleValue } from './values.js';

export interface LoadOptions {
  /** Keep GLOBAL, STACK_GLOBAL and REDUCE as inert `PickleGlobal`/`PickleCall` records instead of refusing them. */
  readonly inert?: boolean;
  /** Deepest nesting accepted (Python's own recursion limit is about 1,000). */
  readonly maxDepth?: number;
  /** Most values copied for shared references (memo GET), so a small pickle cannot expand exponentially. */
  readonly maxValues?: number;
}

type Kind = 'list' | 'tuple' | 'set' | 'dict';
type Container = InertValue[] | { [key: string]: InertValue };
type Slot = InertValue | typeof MARK;

const MARK = Symbol('mark');

const REFUSED: Record<number, string> = {
  0x63: 'GLOBAL',
  0x93: 'STACK_GLOBAL',
  0x52: 'REDUCE',
  0x62: 'BUILD',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

class Reader {
  pos = 0;
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): number {
    if (n > this.bytes.length - this.pos) {
      throw new PickleError(`The pickle is truncated: ${n} bytes needed at offset ${this.pos}`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.bytes[this.need(1)]!;
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  u64(): number {
    const value = this.view.getBigUint64(this.need(8), true);
    if (value > BigInt(this.bytes.length)) throw new PickleError(`The pickle is truncated: length ${value}`);
    return Number(value);
  }
  f64(): number {
    return this.view.getFloat64(this.need(8), false);
  }
  take(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end === -1) throw new PickleError(`The pickle is truncated: a line argument at offset ${this.pos}`);
    const text = Buffer.from(this.bytes.subarray(this.pos, end)).toString('latin1');
    this.pos = end + 1;
    return text;
  }
}

/** Two's complement little-endian integer (LONG1, LONG4), as a number when safe, else a bigint. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return narrow(value);
}

function narrow(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

function parseDecimal(text: string, what: string): number | bigint {
  const digits = text.endsWith('L') ? text.slice(0, -1) : text;
  if (!/^[+-]?\d+$/.test(digits)) throw new PickleError(`Invalid ${what} argument ${JSON.stringify(text)}`);
  return narrow(BigInt(digits));
}

function memoIndex(text: string): number {
  if (!/^\d+$/.test(text)) throw new PickleError(`Invalid memo index ${JSON.stringify(text)}`);
  return Number(text);
}

/** Python's `json.dumps` spelling for a dict key that is not a str; other key types cannot be JSON keys. */
function keyOf(key: InertValue): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint') return String(key);
  if (typeof key === 'boolean') return key ? 'true' : 'false';
  if (key === null) return 'null';
  throw new PickleError(
    'A pickled dict has a key that is not a str, int, bool or None (a tuple or bytes key): it has no JSON form',
  );
}

function setKey(target: { [key: string]: InertValue }, key: string, value: InertValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else target[key] = value;
}

function clone(value: InertValue): InertValue {
  if (typeof value !== 'object' || value === null || value instanceof PickleGlobal) return value;
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (value instanceof PickleCall)
    return new PickleCall(
      value.callee,
      value.args.map((a) => clone(a as InertValue)),
    );
  if (Array.isArray(value)) return value.map(clone);
  // Object.fromEntries defines own properties, so a "__proto__" key stays a plain key.
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)]));
}

class Machine {
  private stack: Slot[] = [];
  private readonly metastack: Slot[][] = [];
  private readonly memo = new Map<number, InertValue>();
  private readonly kinds = new Map<object, Kind>();
  private readonly depths = new Map<object, number>();
  /** Values in each container's tree, so a shared reference is charged to maxValues before it is copied. */
  private readonly sizes = new Map<object, number>();
  private readonly referenced = new Set<object>();
  private values = 0;
  private readonly maxDepth: number;
  private readonly maxValues: number;

  constructor(
    private readonly reader: Reader,
    private readonly options: LoadOptions,
  ) {
    this.maxDepth = options.maxDepth ?? 1000;
    this.maxValues = options.maxValues ?? 500_000;
  }

  run(): InertValue {
    for (;;) {
      const at = this.reader.pos;
      const op = this.reader.u8();
      if (op === 0x2e) return this.finish();
      if (!this.step(op)) {
        const name = REFUSED[op];
        if (name !== undefined) {
          throw new PickleError(
            `The pickle holds a Python object, not plain data (opcode ${name} at offset ${at}): Celeriac reads ` +
              'only None, bool, int, float, str, bytes, list, tuple, dict and set, and never constructs objects',
          );
        }
        throw new PickleError(`Unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} at offset ${at}`);
      }
    }
  }

  private finish(): InertValue {
    if (this.metastack.length > 0) throw new PickleError('The pickle ends inside a MARK');
    if (this.stack.length !== 1) {
      throw new PickleError(`The pickle ends with ${this.stack.length} values on its stack instead of one`);
    }
    return this.value(this.pop());
  }

  private count(n = 1): void {
    this.values += n;
    if (this.values > this.maxValues) {
      throw new PickleError(`The pickle's shared references expand to more than ${this.maxValues} values`);
    }
  }

  private push(value: InertValue, kind?: Kind): void {
    if (kind !== undefined) this.kinds.set(value as object, kind);
    this.stack.push(value);
  }

  /** Pushes an already counted value (evaluated before `this.stack` is read, since popMark swaps stacks). */
  private place(value: InertValue): void {
    this.stack.push(value);
  }

  private pop(): Slot {
    if (this.stack.length === 0) throw new PickleError('Pickle stack underflow');
    return this.stack.pop()!;
  }

  private top(): Slot {
    if (this.stack.length === 0) throw new PickleError('Pickle stack underflow');
    return this.stack[this.stack.length - 1]!;
  }

  private value(slot: Slot): InertValue {
    if (slot === MARK) throw new PickleError('A MARK is used as a value');
    return slot;
  }

  private popMark(): InertValue[] {
    const items = this.stack;
    const previous = this.metastack.pop();
    if (previous === undefined) throw new PickleError('No MARK on the pickle stack');
    this.stack = previous;
    return items.map((slot) => this.value(slot));
  }

  private depth(value: InertValue): number {
    return typeof value === 'object' && value !== null ? (this.depths.get(value) ?? 0) : 0;
  }

  /** Records that `children` now sit in `parent`, refusing a structure that is too deep. */
  private nest(parent: object, children: readonly InertValue[]): void {
    let depth = this.depths.get(parent) ?? 0;
    let size = this.sizes.get(parent) ?? 1;
    for (const child of children) {
      depth = Math.max(depth, this.depth(child) + 1);
      size += this.size(child);
    }
    if (depth > this.maxDepth) throw new PickleError(`The pickle nests deeper than ${this.maxDepth} levels`);
    this.depths.set(parent, depth);
    this.sizes.set(parent, size);
  }

  private size(value: InertValue): number {
    return typeof value === 'object' && value !== null ? (this.sizes.get(value) ?? 1) : 1;
  }

  /** The container a modifying opcode works on: one nobody has taken a reference to yet. */
  private target(slot: Slot, kind: Kind, opcode: string): Container {
    if (slot === MARK || typeof slot !== 'object' || slot === null || this.kinds.get(slot) !== kind) {
      throw new PickleError(`${opcode} needs a ${kind} below it on the pickle stack`);
    }
    if (this.referenced.has(slot)) {
      throw new PickleError(
        `${opcode} changes a ${kind} that is already referenced elsewhere: recursive structures have no JSON form`,
      );
    }
    return slot as Container;
  }

  private append(slot: Slot, items: InertValue[], opcode: string): void {
    const list = this.target(slot, 'list', opcode) as InertValue[];
    this.nest(list, items);
    for (const item of items) list.push(item);
  }

  private setItems(slot: Slot, items: InertValue[], opcode: string): void {
    const dict = this.target(slot, 'dict', opcode) as { [key: string]: InertValue };
    if (items.length % 2 !== 0) throw new PickleError(`${opcode} needs key and value pairs`);
    const values: InertValue[] = [];
    for (let i = 0; i < items.length; i += 2) {
      setKey(dict, keyOf(items[i]!), items[i + 1]!);
      values.push(items[i + 1]!);
    }
    this.nest(dict, values);
  }

  private build(items: InertValue[], kind: Kind): InertValue[] {
    this.nest(items, items);
    this.kinds.set(items, kind);
    return items;
  }

  private dict(items: InertValue[]): { [key: string]: InertValue } {
    const dict: { [key: string]: InertValue } = {};
    this.kinds.set(dict, 'dict');
    this.setItems(dict, items, 'DICT');
    return dict;
  }

  /**
   * A fresh copy of a memoized value (shared references become copies, so the result stays a tree). Only the top
   * needs bookkeeping: what sits inside a container is off the stack and out of the memo, so nothing changes it.
   */
  private copy(value: InertValue): InertValue {
    if (typeof value !== 'object' || value === null || value instanceof PickleGlobal) return value;
    const out = clone(value);
    if (!(value instanceof Uint8Array) && !(value instanceof PickleCall)) {
      this.referenced.add(value);
      this.kinds.set(out as object, this.kinds.get(value) ?? 'list');
      this.depths.set(out as object, this.depths.get(value) ?? 0);
    }
    this.sizes.set(out as object, this.size(value));
    return out;
  }

  private get(index: number): void {
    if (!this.memo.has(index)) throw new PickleError(`Memo entry ${index} is read before it is written`);
    this.duplicate(this.memo.get(index)!);
  }

  private duplicate(value: InertValue): void {
    this.count(this.size(value));
    this.place(this.copy(value));
  }

  private put(index: number): void {
    this.memo.set(index, this.value(this.top()));
  }

  private global(module: string, name: string, opcode: number): void {
    if (!this.options.inert) {
      throw new PickleError(
        `The pickle names the Python global ${module}.${name} (${REFUSED[opcode]}): Celeriac reads only plain ` +
          'data and never imports or constructs objects',
      );
    }
    this.push(new PickleGlobal(module, name));
  }

  private reduce(): void {
    const args = this.value(this.pop());
    const callee = this.value(this.pop());
    if (!this.options.inert) throw new PickleError('REDUCE is refused');
    if (!(callee instanceof PickleGlobal || callee instanceof PickleCall) || !Array.isArray(args)) {
      throw new PickleError('REDUCE needs a global and an argument tuple');
    }
    const call = new PickleCall(callee, args);
    this.sizes.set(call, 1 + this.size(args));
    this.push(call);
  }

  /** Runs one opcode; false for opcodes this reader does not take. */
  private step(op: number): boolean {
    const r = this.reader;
    switch (op) {
      case 0x80: {
        const protocol = r.u8();
        if (protocol > 5)
          throw new PickleError(`Unsupported pickle protocol ${protocol} (Python writes 0 to 5)`);
        return true;
      }
      case 0x95: // FRAME: only a hint for buffered readers; the whole pickle is in memory here.
        r.u64();
        return true;
      case 0x28: // MARK
        this.metastack.push(this.stack);
        this.stack = [];
        return true;
      case 0x30: // POP
        this.pop();
        return true;
      case 0x31: // POP_MARK
        this.popMark();
        return true;
      case 0x32: // DUP, as a copy: the same container twice on the stack could be made to contain itself.
        this.duplicate(this.value(this.top()));
        return true;
      case 0x4e: // NONE
        this.push(null);
        return true;
      case 0x88: // NEWTRUE
        this.push(true);
        return true;
      case 0x89: // NEWFALSE
        this.push(false);
        return true;
      case 0x49: {
        // INT: "01" and "00" are Python 2's True and False.
        const text = r.line();
        this.push(text === '01' ? true : text === '00' ? false : parseDecimal(text, 'INT'));
        return true;
      }
      case 0x4c: // LONG
        this.push(parseDecimal(r.line(), 'LONG'));
        return true;
      case 0x4b: // BININT1
        this.push(r.u8());
        return true;
      case 0x4d: // BININT2
        this.push(r.u16());
        return true;
      case 0x4a: // BININT
        this.push(r.i32());
        return true;
      case 0x8a: // LONG1
        this.push(decodeLong(r.take(r.u8())));
        return true;
      case 0x8b: {
        // LONG4
        const n = r.i32();
        if (n < 0) throw new PickleError('LONG4 with a negative length');
        this.push(decodeLong(r.take(n)));
        return true;
      }
      case 0x46: {
        // FLOAT
        const text = r.line().trim();
        const special = /^([+-]?)(inf|nan)$/i.exec(text);
        const value = special
          ? special[2]!.toLowerCase() === 'nan'
            ? NaN
            : special[1] === '-'
              ? -Infinity
              : Infinity
          : Number(text);
        if (text === '' || (Number.isNaN(value) && !special)) {
          throw new PickleError(`Invalid FLOAT argument ${JSON.stringify(text)}`);
        }
        this.push(value);
        return true;
      }
      case 0x47: // BINFLOAT
        this.push(r.f64());
        return true;
      default:
        return this.stepText(op) || this.stepContainer(op) || this.stepMemo(op);
    }
  }

  private stepText(op: number): boolean {
    const r = this.reader;
    switch (op) {
      case 0x8c: // SHORT_BINUNICODE
        this.push(decodeUtf8(r.take(r.u8())));
        return true;
      case 0x58: // BINUNICODE
        this.push(decodeUtf8(r.take(r.u32())));
        return true;
      case 0x8d: // BINUNICODE8
        this.push(decodeUtf8(r.take(r.u64())));
        return true;
      case 0x56: // UNICODE
        this.push(decodeRawUnicodeEscape(Buffer.from(r.line(), 'latin1')));
        return true;
      case 0x53: // STRING
        this.push(decodeQuotedString(r.line()));
        return true;
      case 0x55: // SHORT_BINSTRING
        this.push(asciiOnly(Buffer.from(r.take(r.u8())).toString('latin1')));
        return true;
      case 0x54: {
        // BINSTRING
        const n = r.i32();
        if (n < 0) throw new PickleError('BINSTRING with a negative length');
        this.push(asciiOnly(Buffer.from(r.take(n)).toString('latin1')));
        return true;
      }
      case 0x43: // SHORT_BINBYTES
        this.push(new Uint8Array(r.take(r.u8())));
        return true;
      case 0x42: // BINBYTES
        this.push(new Uint8Array(r.take(r.u32())));
        return true;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        this.push(new Uint8Array(r.take(r.u64())));
        return true;
      case 0x63: {
        // GLOBAL (protocol 0-3): "module\nname\n"
        const module = r.line();
        this.global(module, r.line(), op);
        return true;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.value(this.pop());
        const module = this.value(this.pop());
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw new PickleError('STACK_GLOBAL needs two str values');
        }
        this.global(module, name, op);
        return true;
      }
      case 0x52: // REDUCE
        if (!this.options.inert) return false;
        this.reduce();
        return true;
      default:
        return false;
    }
  }

  private stepContainer(op: number): boolean {
    switch (op) {
      case 0x5d: // EMPTY_LIST
        this.push([], 'list');
        return true;
      case 0x29: // EMPTY_TUPLE
        this.push([], 'tuple');
        return true;
      case 0x7d: // EMPTY_DICT
        this.push({}, 'dict');
        return true;
      case 0x8f: // EMPTY_SET
        this.push([], 'set');
        return true;
      case 0x6c: // LIST
        this.place(this.build(this.popMark(), 'list'));
        return true;
      case 0x74: // TUPLE
        this.place(this.build(this.popMark(), 'tuple'));
        return true;
      case 0x91: // FROZENSET
        this.place(this.build(this.popMark(), 'tuple'));
        return true;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const items = Array.from({ length: op - 0x84 }, () => this.value(this.pop())).reverse();
        this.place(this.build(items, 'tuple'));
        return true;
      }
      case 0x64: // DICT
        this.place(this.dict(this.popMark()));
        return true;
      case 0x61: {
        // APPEND
        const item = this.value(this.pop());
        this.append(this.top(), [item], 'APPEND');
        return true;
      }
      case 0x65: {
        // APPENDS
        const items = this.popMark();
        this.append(this.top(), items, 'APPENDS');
        return true;
      }
      case 0x73: {
        // SETITEM
        const value = this.value(this.pop());
        const key = this.value(this.pop());
        this.setItems(this.top(), [key, value], 'SETITEM');
        return true;
      }
      case 0x75: {
        // SETITEMS
        const items = this.popMark();
        this.setItems(this.top(), items, 'SETITEMS');
        return true;
      }
      case 0x90: {
        // ADDITEMS
        const items = this.popMark();
        const set = this.target(this.top(), 'set', 'ADDITEMS') as InertValue[];
        this.nest(set, items);
        for (const item of items) set.push(item);
        return true;
      }
      default:
        return false;
    }
  }

  private stepMemo(op: number): boolean {
    const r = this.reader;
    switch (op) {
      case 0x94: // MEMOIZE
        this.put(this.memo.size);
        return true;
      case 0x70: // PUT
        this.put(memoIndex(r.line()));
        return true;
      case 0x71: // BINPUT
        this.put(r.u8());
        return true;
      case 0x72: // LONG_BINPUT
        this.put(r.u32());
        return true;
      case 0x67: // GET
        this.get(memoIndex(r.line()));
        return true;
      case 0x68: // BINGET
        this.get(r.u8());
        return true;
      case 0x6a: // LONG_BINGET
        this.get(r.u32());
        return true;
      default:
        return false;
    }
  }
}

function run(bytes: Uint8Array, options: LoadOptions): InertValue {
  if (bytes.length === 0) throw new PickleError('The pickle is empty');
  return new Machine(new Reader(bytes), options).run();
}

/** Reads a pickle of plain data; anything else is refused with a PickleError. */
export function loadPickle(bytes: Uint8Array, options: Omit<LoadOptions, 'inert'> = {}): PickleValue {
  return run(bytes, { ...options, inert: false }) as PickleValue;
}

/**
 * Reads a pickle where globals and reduce calls are kept as inert records (nothing is imported or called), for
 * callers that recognise one exact shape, such as the GroupResult that Python's database backend stores.
 */
export function loadPickleInert(bytes: Uint8Array, options: Omit<LoadOptions, 'inert'> = {}): InertValue {
  return run(bytes, { ...options, inert: true });
}
