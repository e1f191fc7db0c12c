/**
 * Python's `repr` of JSON-like values, for the `argsrepr`/`kwargsrepr` headers that Celery's logs, events and
 * Flower show, truncated as `celery.utils.saferepr` does.
 */
import type { JsonValue } from '../types.js';

function reprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch < ' ') out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

function reprNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return String(n);
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  return String(n);
}

export function pyRepr(value: unknown, depth = 0): string {
  if (depth > 20) return '...';
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return reprNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return reprString(value);
  if (Array.isArray(value)) return `[${value.map((v) => pyRepr(v, depth + 1)).join(', ')}]`;
  if (value instanceof Date) return reprString(value.toISOString());
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    return `{${entries.map(([k, v]) => `${reprString(k)}: ${pyRepr(v, depth + 1)}`).join(', ')}}`;
  }
  return reprString(String(value));
}

/** `(2, 3)`, `(1,)` or `()`: the repr of an args tuple. */
export function pyReprArgs(args: readonly JsonValue[] | readonly unknown[]): string {
  if (args.length === 1) return `(${pyRepr(args[0])},)`;
  return `(${args.map((a) => pyRepr(a)).join(', ')})`;
}

/** Truncates to `maxSize` characters, ending in `...` as `saferepr` does. */
export function truncateRepr(repr: string, maxSize = 1024): string {
  return repr.length > maxSize ? `${repr.slice(0, maxSize - 3)}...` : repr;
}
