/**
 * The text encodings pickle uses: UTF-8 with Python's `surrogatepass` (a lone surrogate in a str is written as its
 * three-byte form, which strict UTF-8 refuses), `raw-unicode-escape` (protocol 0 `UNICODE`) and the quoted literal
 * of protocol 0 `STRING`.
 */
import { PickleError } from './values.js';

const strict = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8, accepting encoded surrogates as Python's `surrogatepass` does. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    return decodeUtf8Slow(bytes);
  }
}

function decodeUtf8Slow(bytes: Uint8Array): string {
  const units: number[] = [];
  let i = 0;
  const bad = (): never => {
    throw new PickleError(`Invalid UTF-8 in a pickled str at byte ${i}`);
  };
  const cont = (k: number): number => {
    const b = bytes[i + k];
    if (b === undefined || (b & 0xc0) !== 0x80) bad();
    return b! & 0x3f;
  };
  while (i < bytes.length) {
    const b = bytes[i]!;
    let code: number;
    let size: number;
    if (b < 0x80) [code, size] = [b, 1];
    else if (b >= 0xc2 && b < 0xe0) [code, size] = [((b & 0x1f) << 6) | cont(1), 2];
    else if (b >= 0xe0 && b < 0xf0) {
      code = ((b & 0x0f) << 12) | (cont(1) << 6) | cont(2);
      if (code < 0x800) bad();
      size = 3;
    } else if (b >= 0xf0 && b < 0xf5) {
      code = ((b & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
      if (code < 0x10000 || code > 0x10ffff) bad();
      size = 4;
    } else return bad();
    if (code > 0xffff) units.push(0xd800 + ((code - 0x10000) >> 10), 0xdc00 + ((code - 0x10000) & 0x3ff));
    else units.push(code);
    i += size;
  }
  let out = '';
  for (let k = 0; k < units.length; k += 8192) out += String.fromCharCode(...units.slice(k, k + 8192));
  return out;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Encodes a string as UTF-8, writing lone surrogates in their three-byte form (`surrogatepass`). */
export function encodeUtf8(text: string): Uint8Array {
  if (!LONE_SURROGATE.test(text)) return Buffer.from(text, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (code >= 0xd800 && code < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
      code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
      i++;
    }
    if (code < 0x80) out.push(code);
    else if (code < 0x800) out.push(0xc0 | (code >> 6), 0x80 | (code & 0x3f));
    else if (code < 0x10000) out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
    else {
      out.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 0x3f), 0x80 | ((code >> 6) & 0x3f));
      out.push(0x80 | (code & 0x3f));
    }
  }
  return Uint8Array.from(out);
}

function fromCodePoint(code: number, what: string): string {
  if (!(code <= 0x10ffff)) throw new PickleError(`Invalid \\U escape in a pickled ${what}`);
  return String.fromCodePoint(code);
}

/** Protocol 0 `UNICODE`: latin-1 bytes where `\uXXXX` and `\UXXXXXXXX` stand for other characters. */
export function decodeRawUnicodeEscape(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('latin1');
  return text.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_m, u: string | undefined, w: string | undefined) =>
      u !== undefined ? String.fromCharCode(parseInt(u, 16)) : fromCodePoint(parseInt(w!, 16), 'unicode'),
  );
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  r: '\r',
  t: '\t',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '\n': '',
};

/**
 * Protocol 0 `STRING` (a Python 2 str): a quoted literal with backslash escapes. Python 3 reads it as ASCII by
 * default, so other bytes are refused as Python refuses them.
 */
export function decodeQuotedString(line: string): string {
  const quote = line[0];
  if (line.length < 2 || (quote !== "'" && quote !== '"') || line[line.length - 1] !== quote) {
    throw new PickleError('The STRING opcode argument must be quoted');
  }
  const body = line.slice(1, -1);
  const text = body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|[\s\S])/g, (_m, esc: string) => {
    if (esc[0] === 'x') return String.fromCharCode(parseInt(esc.slice(1), 16));
    if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8) & 0xff);
    return SIMPLE_ESCAPES[esc] ?? `\\${esc}`;
  });
  return asciiOnly(text);
}

/** Python 3 decodes Python 2 strs (`STRING`, `BINSTRING`) as ASCII unless told otherwise. */
export function asciiOnly(text: string): string {
  if (/[^\p{ASCII}]/u.test(text)) {
    throw new PickleError('A Python 2 str in the pickle holds non-ASCII bytes (Python 3 refuses it too)');
  }
  return text;
}
