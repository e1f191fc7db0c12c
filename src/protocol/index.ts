export * from './message.js';
export * from './envelope.js';
export * from './exception.js';
export * from './time.js';
export * from './ids.js';
export * from './pyrepr.js';
export * from './compression.js';
export {
  AcceptPolicy,
  serializerByName,
  serializerNameFor,
  SERIALIZER_NAMES,
  Serializers,
  type Serializer,
} from './serializers/index.js';
export * from './certificate.js';
export * from './signing.js';
export { SIGNED_HEADERS, STRICT_CONTENT_TYPE, type StrictOptions } from './signing-strict.js';
