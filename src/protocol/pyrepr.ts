/**
 * The `argsrepr`/`kwargsrepr` headers that Celery's logs, events and Flower show. Celery does not use Python's
 * `repr` for them but `celery.utils.saferepr.saferepr(args, 1024)` (`celery/app/amqp.py:315`), which differs:
 * strings are always single-quoted with only `'` escaped (tabs, newlines and backslashes are written as they
 * are), containers nested three levels deep print as `[...]`/`{...}`, and the length limit cuts tokens with
 * `...` and ends with `, ...` plus the closing brackets still pending. This module mirrors that algorithm
 * (a stream of tokens over a depth-first walk) so that our headers match a Python producer's.
 */

const MAX_LEVELS = 3;

/** A Python tuple: JavaScript has none, so the args of a call are wrapped in one. */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

interface Literal {
  lit: string;
  /** False for brackets, which are still written after the length limit is reached. */
  truncate: boolean;
  direction: -1 | 0 | 1;
}

type Item = Literal | { key: unknown } | { value: unknown };

const LIST_SEP: Literal = { lit: ', ', truncate: true, direction: 0 };
const KV_SEP: Literal = { lit: ': ', truncate: true, direction: 0 };
const open = (lit: string): Literal => ({ lit, truncate: false, direction: 1 });
const close = (lit: string): Literal => ({ lit, truncate: false, direction: -1 });

/** Python's code-point length: emoji count as one character, as in `len(s)`. */
function pyLen(s: string): number {
  return Array.from(s).length;
}

/** `celery/utils/text.py truncate`: cut at `maxlen` code points, back to the last space, then `...`. */
function truncate(s: string, maxlen: number | null): string {
  if (!maxlen || pyLen(s) < maxlen) return s;
  const head = Array.from(s).slice(0, maxlen).join('');
  const space = head.lastIndexOf(' ');
  return (space === -1 ? head : head.slice(0, space)) + '...';
}

/** Python's `repr(float)`: shortest round-trip digits, scientific below 1e-4 and from 1e16. */
export function pyFloat(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (Object.is(n, -0)) return '-0.0';
  const [mantissa = '0', exp = '0'] = n.toExponential().split('e');
  const exponent = Number(exp);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exponent < -4 || exponent >= 16) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exponent).toString().padStart(2, '0');
    return `${sign}${mant}e${exponent < 0 ? '-' : '+'}${e}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const int = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const frac = digits.slice(exponent + 1);
  return `${sign}${int}.${frac || '0'}`;
}

/** `str(n)`: integers as integers (a JavaScript number cannot say it was `3.0`), other numbers as Python floats. */
function pyNumber(n: number): string {
  return Number.isInteger(n) && Math.abs(n) < 1e16 && !Object.is(n, -0) ? String(n) : pyFloat(n);
}

/** The opening, closing and children of a container, or null for a scalar. */
function expand(value: unknown): { start: string; end: string; items: Item[] } | null {
  const list = (values: readonly unknown[]): Item[] =>
    values.flatMap((v, i): Item[] => (i < values.length - 1 ? [{ value: v }, LIST_SEP] : [{ value: v }]));
  if (value instanceof PyTuple) {
    return { start: '(', end: value.items.length === 1 ? ',)' : ')', items: list(value.items) };
  }
  if (Array.isArray(value)) return { start: '[', end: ']', items: list(value) };
  if (value instanceof Set) return value.size ? { start: '{', end: '}', items: list([...value]) } : null;
  if (typeof value === 'object' && value !== null && !(value instanceof Date) && !Buffer.isBuffer(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    const items = entries.flatMap(([k, v], i): Item[] => {
      const pair: Item[] = [{ key: k }, KV_SEP, { value: v }];
      return i < entries.length - 1 ? [...pair, LIST_SEP] : pair;
    });
    return { start: '{', end: '}', items };
  }
  return null;
}

/** Scalars: `str()` for numbers and booleans, `repr()` for the rest; strings are handled by the caller. */
function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return pyNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Set) return 'set()';
  if (value instanceof Date) return `'${value.toISOString()}'`;
  if (Buffer.isBuffer(value)) return `b'${value.toString('hex')}'`;
  if (typeof value === 'function') return `<function ${value.name || '<anonymous>'}>`;
  if (typeof value === 'symbol') return value.toString();
  return Object.prototype.toString.call(value);
}

/**
 * `saferepr(value, maxlen, maxlevels=3)` as `celery/utils/saferepr.py`: the walk yields tokens; each is cut to
 * the remaining length; once the length is used up, `, ...` and the pending closing brackets end the text.
 */
export function saferepr(value: unknown, maxlen: number | null = null): string {
  const frames: { items: Item[]; index: number; container?: unknown }[] = [{ items: [{ value }], index: 0 }];
  const seen = new Set<unknown>();
  let remaining = maxlen;
  let level = 0;
  let out = '';
  const next = (): Item | undefined => {
    while (frames.length) {
      const top = frames[frames.length - 1]!;
      if (top.index < top.items.length) return top.items[top.index++];
      frames.pop();
    }
    return undefined;
  };
  for (let item = next(); item !== undefined; item = next()) {
    let token: string;
    if ('lit' in item) {
      level += item.direction;
      if (item.direction === -1) seen.delete(frames[frames.length - 1]?.container);
      token = item.lit;
    } else if ('key' in item) {
      token = saferepr(item.key, remaining);
    } else if (typeof item.value === 'string') {
      token = `'${truncate(item.value, remaining).replace(/'/g, "\\'")}'`;
    } else {
      const container = expand(item.value);
      if (container && level >= MAX_LEVELS) {
        token = truncate(`${container.start}...${container.end}`, remaining);
      } else if (container && seen.has(item.value)) {
        token = truncate('...', remaining);
      } else if (container) {
        seen.add(item.value);
        const items = [open(container.start), ...container.items, close(container.end)];
        frames.push({ items, index: 0, container: item.value });
        continue;
      } else {
        token = truncate(scalar(item.value), remaining);
      }
    }
    if (remaining !== null && remaining <= 0) {
      // This token is dropped; only the brackets still pending are written (saferepr.py `_saferepr`).
      out += ', ...';
      for (let i = frames.length - 1; i >= 0; i--) {
        const frame = frames[i]!;
        for (const rest of frame.items.slice(frame.index))
          if ('lit' in rest && !rest.truncate) out += rest.lit;
      }
      break;
    }
    out += token;
    if (remaining !== null) remaining -= pyLen(token);
  }
  return out;
}

/** Celery's `saferepr(args, argsrepr_maxsize=1024)` of an args tuple: `(2, 3)`, `(1,)` or `()`. */
export function pyReprArgs(args: readonly unknown[], maxlen: number | null = 1024): string {
  return shortFlatRepr(args, maxlen) ?? saferepr(new PyTuple(args), maxlen);
}

/** Celery's `saferepr(kwargs, kwargsrepr_maxsize=1024)`. */
export function pyReprKwargs(kwargs: unknown, maxlen: number | null = 1024): string {
  if (
    typeof kwargs === 'object' &&
    kwargs !== null &&
    Object.getPrototypeOf(kwargs) === Object.prototype &&
    Object.keys(kwargs).length === 0
  ) {
    return '{}';
  }
  return saferepr(kwargs, maxlen);
}

/**
 * The common case of a message's args, written directly: a few integers, booleans, nulls and short printable
 * ASCII strings, far below the length limit, where the token walk of `saferepr` gives the same text. Null when
 * the args are anything else (saferepr then does the work).
 */
function shortFlatRepr(args: readonly unknown[], maxlen: number | null): string | null {
  if (args.length > 16 || (maxlen !== null && maxlen < 1024)) return null;
  const parts: string[] = [];
  for (const value of args) {
    if (typeof value === 'number') {
      if (!Number.isInteger(value) || Math.abs(value) >= 1e16 || Object.is(value, -0)) return null;
      parts.push(String(value));
    } else if (typeof value === 'string') {
      if (value.length > 40 || !/^[ -~]*$/.test(value)) return null;
      parts.push(`'${value.replace(/'/g, "\\'")}'`);
    } else if (value === null || value === undefined) {
      parts.push('None');
    } else if (typeof value === 'boolean') {
      parts.push(value ? 'True' : 'False');
    } else {
      return null;
    }
  }
  return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
}

/** `saferepr(value)` with no length limit; kept under its earlier name for existing callers. */
export function pyRepr(value: unknown): string {
  return saferepr(value);
}
