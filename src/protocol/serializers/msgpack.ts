/** msgpack, as kombu's `msgpack` serializer (content type `application/x-msgpack`, raw binary). */
import { decode, encode } from '@msgpack/msgpack';
import type { Serializer } from './index.js';

export const msgpackSerializer: Serializer = {
  name: 'msgpack',
  contentType: 'application/x-msgpack',
  contentEncoding: 'binary',
  encode: (value) => {
    const bytes = encode(value, { ignoreUndefined: true });
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  },
  decode: (data) => decode(data),
};
