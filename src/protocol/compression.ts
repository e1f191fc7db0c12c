/**
 * Body compression as kombu/compression.py: the `compression` header holds a mime type and the body is compressed
 * after serialization. `zlib`/`gzip` are a zlib stream (not gzip framing), as kombu writes them.
 */
import { brotliCompressSync, brotliDecompressSync, deflateSync, inflateSync } from 'node:zlib';
import { DecodeError, EncodeError } from '../errors.js';

interface Codec {
  mime: string;
  compress(data: Buffer): Buffer;
  /** Fails with a RangeError past `maxOutputLength` bytes, so a small body cannot inflate into gigabytes. */
  decompress(data: Buffer, maxOutputLength: number): Buffer;
}

const zlib: Codec = {
  mime: 'application/x-gzip',
  compress: (d) => deflateSync(d),
  decompress: (d, maxOutputLength) => inflateSync(d, { maxOutputLength }),
};
/** Python Celery reads brotli only with the `brotli` module installed (docs/security.md, "Compression"). */
const brotli: Codec = {
  mime: 'application/x-brotli',
  compress: (d) => brotliCompressSync(d),
  decompress: (d, maxOutputLength) => brotliDecompressSync(d, { maxOutputLength }),
};

const BY_NAME: Record<string, Codec> = { zlib, gzip: zlib, brotli };
const BY_MIME: Record<string, Codec> = { [zlib.mime]: zlib, [brotli.mime]: brotli };
/** Known to kombu but not available here; named in the error. */
const UNSUPPORTED = ['bzip2', 'lzma', 'xz', 'zstd'];

export const COMPRESSION_NAMES: readonly string[] = Object.keys(BY_NAME);

export function compress(name: string, data: Buffer): { mime: string; data: Buffer } {
  const codec = BY_NAME[name];
  if (!codec) {
    const why = UNSUPPORTED.includes(name) ? 'is not supported by Celeriac' : 'is unknown';
    throw new EncodeError(`Compression "${name}" ${why}: use one of ${COMPRESSION_NAMES.join(', ')}`);
  }
  return { mime: codec.mime, data: codec.compress(data) };
}

/** Largest buffer Node can make: the default bound when the caller gives none. */
const NO_LIMIT = 2 ** 31 - 1;

export function decompress(mime: string, data: Buffer, maxOutputLength = NO_LIMIT): Buffer {
  const codec = BY_MIME[mime];
  if (!codec)
    throw new DecodeError(
      `Unsupported compression "${mime}": Celeriac reads ${Object.keys(BY_MIME).join(', ')}`,
    );
  try {
    return codec.decompress(data, maxOutputLength);
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw Object.assign(
        new DecodeError(
          `Decompressed body (${mime}) is over the maxMessageSize limit of ${maxOutputLength} bytes`,
        ),
        { reason: 'message-too-large' },
      );
    }
    throw new DecodeError(`Cannot decompress body (${mime}): ${(error as Error).message}`);
  }
}

/** Validates a compression name from configuration. */
export function isCompressionName(name: string): boolean {
  return name in BY_NAME;
}
