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
