/**
 * Serializers by name and content type (kombu/serialization.py), and the `accept_content` whitelist.
 * Pickle and YAML are recognised so that such messages are refused with a clear reason, never decoded.
 */
import { ContentDisallowed, DecodeError, EncodeError } from '../../errors.js';
import { jsonSerializer } from './json.js';
import { msgpackSerializer } from './msgpack.js';

export interface Serializer {
  readonly name: string;
  readonly contentType: string;
  readonly contentEncoding: string;
  encode(value: unknown): Buffer;
  decode(data: Buffer): unknown;
}

const SERIALIZERS: readonly Serializer[] = [jsonSerializer, msgpackSerializer];

/** Content types Celery knows but Celeriac will never decode. */
const REFUSED: Record<string, string> = {
  'application/x-python-serialize': 'pickle',
  'application/x-yaml': 'yaml',
  'application/data': 'auth',
};

const byName = new Map(SERIALIZERS.map((s) => [s.name, s]));
const byType = new Map(SERIALIZERS.map((s) => [s.contentType, s]));

export const SERIALIZER_NAMES: readonly string[] = SERIALIZERS.map((s) => s.name);

export function serializerByName(name: string): Serializer {
  const serializer = byName.get(name);
  if (!serializer) {
    const hint = name === 'pickle' ? ' (Celeriac never decodes pickle; use "json")' : '';
    throw new EncodeError(`Unknown serializer "${name}"${hint}: use one of ${SERIALIZER_NAMES.join(', ')}`);
  }
  return serializer;
}

/** The serializer name for a content type or a name (`json`, `application/json`), or undefined. */
export function serializerNameFor(nameOrType: string): string | undefined {
  return byName.get(nameOrType)?.name ?? byType.get(nameOrType)?.name ?? REFUSED[nameOrType];
}

/** A compiled `accept_content` whitelist: names or content types, as Celery accepts both. */
export class AcceptPolicy {
  private readonly types: ReadonlySet<string>;

  constructor(readonly accepted: readonly string[]) {
    const types = new Set<string>();
    for (const entry of accepted) {
      const serializer = byName.get(entry) ?? byType.get(entry);
      if (serializer) {
        types.add(serializer.contentType);
        continue;
      }
      const refused = REFUSED[entry] ?? Object.entries(REFUSED).find(([, n]) => n === entry)?.[0];
      throw new ContentDisallowed(
        refused
          ? `acceptContent lists "${entry}", which Celeriac cannot decode (it never runs pickle or YAML); remove it`
          : `acceptContent lists unknown serializer "${entry}": use ${SERIALIZER_NAMES.join(', ')} or their content types`,
      );
    }
    this.types = types;
  }

  /** Whether a serializer (by name or content type) is on the list. */
  accepts(nameOrType: string): boolean {
    const serializer = byName.get(nameOrType) ?? byType.get(nameOrType);
    return serializer !== undefined && this.types.has(serializer.contentType);
  }

  /** Decodes `data` if its content type is accepted; throws ContentDisallowed otherwise. */
  decode(contentType: string | undefined, data: Buffer): unknown {
    const type = contentType || 'application/json';
    if (!this.types.has(type)) {
      const known = serializerNameFor(type);
      throw new ContentDisallowed(
        `Refusing to deserialize untrusted content of type ${known ?? type} (${type}); accepted: ${[...this.types].join(', ')}`,
      );
    }
    try {
      return byType.get(type)!.decode(data);
    } catch (error) {
      throw new DecodeError(`Can't decode message body (${type}): ${(error as Error).message}`);
    }
  }
}
