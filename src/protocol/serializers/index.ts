/**
 * Serializers by name and content type (kombu/serialization.py), and the `accept_content` whitelist. Every app has
 * its own table (`app.registerSerializer()`, kombu's `register`), starting with json and msgpack. Pickle and YAML
 * are recognised so that such messages are refused with a clear reason, never decoded.
 */
import { ContentDisallowed, DecodeError, EncodeError, ImproperlyConfigured } from '../../errors.js';
import { jsonSerializer } from './json.js';
import { msgpackSerializer } from './msgpack.js';

/** A serializer: its name (`taskSerializer`, `acceptContent`), the content type it writes, and its codec. */
export interface Serializer {
  readonly name: string;
  readonly contentType: string;
  /** `utf-8` for text formats, `binary` for binary ones (the message's `content-encoding`). */
  readonly contentEncoding: string;
  encode(value: unknown): Buffer;
  decode(data: Buffer): unknown;
}

const BUILTIN: readonly Serializer[] = [jsonSerializer, msgpackSerializer];

/** Content types Celery knows but Celeriac will never decode (unless a serializer is registered for them). */
const REFUSED: Record<string, string> = {
  'application/x-python-serialize': 'pickle',
  'application/x-yaml': 'yaml',
  'application/data': 'auth',
};

/** Formats that can run code when decoded: never registered. */
const NEVER = new Set(['pickle', 'yaml', 'application/x-python-serialize', 'application/x-yaml']);

/** What is wrong with a serializer given to `registerSerializer()`, or null. */
function shapeProblem(s: Partial<Serializer> | null): string | null {
  if (typeof s !== 'object' || s === null) {
    return 'it must be an object { name, contentType, contentEncoding, encode, decode }';
  }
  if (typeof s.name !== 'string' || s.name === '')
    return 'its name must be a non-empty string, such as "cbor"';
  if (typeof s.contentType !== 'string' || s.contentType === '') {
    return 'its contentType must be a non-empty string, such as "application/cbor"';
  }
  if (typeof s.contentEncoding !== 'string') return 'its contentEncoding must be "utf-8" (text) or "binary"';
  if (typeof s.encode !== 'function' || typeof s.decode !== 'function') {
    return 'it needs encode(value): Buffer and decode(data: Buffer) functions';
  }
  if (NEVER.has(s.name) || NEVER.has(s.contentType)) {
    return 'Celeriac never decodes pickle or YAML (decoding them can run code)';
  }
  return null;
}

/** One app's serializers, by name and by content type: json and msgpack, and those it registers. */
export class Serializers {
  private readonly named = new Map<string, Serializer>();
  private readonly typed = new Map<string, Serializer>();

  constructor(serializers: readonly Serializer[] = BUILTIN) {
    for (const serializer of serializers) this.add(serializer);
  }

  /** Adds or replaces a serializer (kombu's `register`), after checking its shape. */
  register(serializer: Serializer): void {
    const problem = shapeProblem(serializer);
    if (problem) {
      const name = typeof serializer?.name === 'string' ? ` "${serializer.name}"` : '';
      throw new ImproperlyConfigured(`registerSerializer(): cannot register serializer${name}: ${problem}`);
    }
    this.add(serializer);
  }

  private add(serializer: Serializer): void {
    const previous = this.named.get(serializer.name);
    if (previous) this.typed.delete(previous.contentType);
    this.named.set(serializer.name, serializer);
    this.typed.set(serializer.contentType, serializer);
  }

  /** The serializer with this name; an EncodeError naming the known ones otherwise. */
  get(name: string): Serializer {
    const serializer = this.named.get(name);
    if (!serializer) {
      const hint = name === 'pickle' ? ' (Celeriac never decodes pickle; use "json")' : '';
      throw new EncodeError(`Unknown serializer "${name}"${hint}: use one of ${this.names().join(', ')}`);
    }
    return serializer;
  }

  /** The serializer for a name or a content type, or undefined. */
  find(nameOrType: string): Serializer | undefined {
    return this.named.get(nameOrType) ?? this.typed.get(nameOrType);
  }

  /** The serializer name for a content type or a name (`json`, `application/json`), or undefined. */
  nameFor(nameOrType: string): string | undefined {
    return this.find(nameOrType)?.name ?? REFUSED[nameOrType];
  }

  names(): string[] {
    return [...this.named.keys()];
  }
}

/** The built-in table, for code that has no app (never registered into). */
const builtins = new Serializers();

export const SERIALIZER_NAMES: readonly string[] = BUILTIN.map((s) => s.name);

/** A built-in serializer by name. */
export function serializerByName(name: string): Serializer {
  return builtins.get(name);
}

/** The built-in serializer name for a content type or a name (`json`, `application/json`), or undefined. */
export function serializerNameFor(nameOrType: string): string | undefined {
  return builtins.nameFor(nameOrType);
}

/** A compiled `accept_content` whitelist: names or content types, as Celery accepts both. */
export class AcceptPolicy {
  private readonly types: ReadonlySet<string>;

  constructor(
    readonly accepted: readonly string[],
    private readonly serializers: Serializers = builtins,
  ) {
    const types = new Set<string>();
    for (const entry of accepted) {
      const serializer = serializers.find(entry);
      if (serializer) {
        types.add(serializer.contentType);
        continue;
      }
      const refused = REFUSED[entry] ?? Object.entries(REFUSED).find(([, n]) => n === entry)?.[0];
      throw new ContentDisallowed(
        refused
          ? `acceptContent lists "${entry}", which Celeriac cannot decode (it never runs pickle or YAML); remove it`
          : `acceptContent lists unknown serializer "${entry}": use ${serializers.names().join(', ')} or their content types`,
      );
    }
    this.types = types;
  }

  /** Whether a serializer (by name or content type) is on the list. */
  accepts(nameOrType: string): boolean {
    const serializer = this.serializers.find(nameOrType);
    return serializer !== undefined && this.types.has(serializer.contentType);
  }

  /** Decodes `data` if its content type is accepted; throws ContentDisallowed otherwise. */
  decode(contentType: string | undefined, data: Buffer): unknown {
    const type = contentType || 'application/json';
    if (!this.types.has(type)) {
      const known = this.serializers.nameFor(type);
      throw new ContentDisallowed(
        `Refusing to deserialize untrusted content of type ${known ?? type} (${type}); accepted: ${[...this.types].join(', ')}`,
      );
    }
    try {
      return this.serializers.find(type)!.decode(data);
    } catch (error) {
      throw new DecodeError(`Can't decode message body (${type}): ${(error as Error).message}`);
    }
  }
}
