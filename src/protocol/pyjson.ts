/**
 * JSON written the way Python's `json.dumps` writes it by default (`", "` and `": "` separators, non-ASCII
 * escaped as `\uXXXX`), for the few places where Celery compares stored JSON byte for byte: a chord part recorded
 * twice (once by a Python worker, once by a Celeriac one) must be the same sorted-set member.
 */
import type { JsonValue } from '../types.js';

function str(value: string): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function num(value: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  return JSON.stringify(value);
}

export function pythonJsonDumps(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return str(value);
  if (typeof value === 'number') return num(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // An integer beyond 2^53 (decoded as a BigInt) is written with all its digits, as Python's json writes an int.
  const raw: unknown = value;
  if (typeof raw === 'bigint') return raw.toString();
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${str(k)}: ${pythonJsonDumps(v)}`)
    .join(', ')}}`;
}
