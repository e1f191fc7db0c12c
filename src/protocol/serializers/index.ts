/**
 * Serializers by name and content type (kombu/serialization.py), and the `accept_content` whitelist. Every app has
 * its own table (`app.registerSerializer()`, kombu's `register`), starting with json and msgpack. Pickle and YAML
 * are recognised so that such messages are refused with a clear reason, never decoded. `auth` (signed messages) is
 * known by name from the start but exists only in an app that called `setupSecurity()`, which registers it.
 */
import {
  ContentDisallowed,
  DecodeError,
  EncodeError,
  ImproperlyConfigured,
  isCeleriacError,
} from '../../errors.js';
import type { JsonValue } from '../../types.js';
import { jsonSerializer } from './json.js';
import { msgpackSerializer } from './msgpack.js';

/** A serializer: its name (`taskSerializer`, `acceptContent`), the content type it writes, and its codec. */
export interface Serializer {
  readonly name: string;
  readonly contentType: string;
  /** `utf-8` for text formats, `binary` for binary ones (the message's `content-encoding`). */
  readonly contentEncoding: string;
  /** `headers` are the message's headers, for serializers that sign them (strict `auth`); others ignore them. */
  encode(value: unknown, headers?: Readonly<Record<string, JsonValue>>): Buffer;
  decode(data: Buffer, headers?: Readonly<Record<string, JsonValue>>): unknown;
}

const BUILTIN: readonly Serializer[] = [jsonSerializer, msgpackSerializer];

/** Content types Celery knows but Celeriac will never decode, and why. */
const REFUSED: Record<string, { name: string; why: string }> = {
  'application/x-python-serialize': {
    name: 'pickle',
    why: 'Celeriac never decodes pickle, as unpickling runs code chosen by whoever wrote the message',
  },
  'application/x-yaml': { name: 'yaml', why: 'Celeriac never decodes YAML' },
};

/** Serializers that exist only after app set-up (`setupSecurity()`): name -> the content types they write. */
const NEEDS_SETUP: Record<string, readonly string[]> = {
  auth: ['application/data', 'application/x-celeriac-signed'],
};

/** Formats that can run code when decoded: never registered. */
const NEVER = new Set(['pickle', 'yaml', 'application/x-python-serialize', 'application/x-yaml']);

function refusedByName(name: string): { name: string; why: string } | undefined {
  return Object.values(REFUSED).find((refused) => refused.name === name);
}

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

  /** The serializer with this name; an EncodeError saying how to get it otherwise. */
  get(name: string): Serializer {
    const serializer = this.named.get(name);
    if (serializer) return serializer;
    if (Object.hasOwn(NEEDS_SETUP, name)) {
      throw new EncodeError(
        `Serializer "${name}" is not set up: call app.setupSecurity() (with securityKey, securityCertificate and securityCertStore) before sending`,
      );
    }
    const hint = name === 'pickle' ? ' (Celeriac never decodes pickle; use "json")' : '';
    throw new EncodeError(`Unknown serializer "${name}"${hint}: use one of ${this.names().join(', ')}`);
  }

  /** The registered serializer for a name or a content type, or undefined. */
  find(nameOrType: string): Serializer | undefined {
    return this.named.get(nameOrType) ?? this.typed.get(nameOrType);
  }

  /** The registered serializer for a content type, or undefined. */
  forType(contentType: string): Serializer | undefined {
    return this.typed.get(contentType);
  }

  /** The serializer name for a content type or a name (`json`, `application/json`), refused and unset-up ones too. */
  nameFor(nameOrType: string): string | undefined {
    const known = this.find(nameOrType);
    if (known) return known.name;
    if (Object.hasOwn(REFUSED, nameOrType)) return REFUSED[nameOrType]!.name;
    if (Object.hasOwn(NEEDS_SETUP, nameOrType)) return nameOrType;
    return Object.keys(NEEDS_SETUP).find((name) => NEEDS_SETUP[name]!.includes(nameOrType));
  }

  /** Whether `name` may be a setting's serializer: registered, or one that app set-up registers (`auth`). */
  knows(name: string): boolean {
    return this.named.has(name) || Object.hasOwn(NEEDS_SETUP, name);
  }

  /** Registered names, then those that need set-up. */
  names(): string[] {
    return [...new Set([...this.named.keys(), ...Object.keys(NEEDS_SETUP)])];
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

/**
 * A compiled `accept_content` whitelist: names or content types, as Celery accepts both. Kept as names and looked
 * up in the app's table when a message arrives, so a serializer registered later (`auth`) is found.
 */
export class AcceptPolicy {
  private readonly names: ReadonlySet<string>;

  constructor(
    readonly accepted: readonly string[],
    private readonly serializers: Serializers = builtins,
    readonly setting = 'acceptContent',
  ) {
    const names = new Set<string>();
    for (const entry of accepted) {
      const refused = REFUSED[entry] ?? refusedByName(entry);
      if (refused) {
        throw new ContentDisallowed(
          `${setting} lists "${entry}", which Celeriac cannot decode (${refused.why}); remove it`,
        );
      }
      const name = serializers.nameFor(entry);
      if (!name) {
        throw new ContentDisallowed(
          `${setting} lists unknown serializer "${entry}": use ${serializers.names().join(', ')} or their content types`,
        );
      }
      names.add(name);
    }
    this.names = names;
  }

  /** Whether a serializer (by name or content type) is on the list. */
  accepts(nameOrType: string): boolean {
    const name = this.serializers.nameFor(nameOrType);
    return name !== undefined && this.names.has(name);
  }

  /** Decodes `data` if its content type is accepted; throws ContentDisallowed or DecodeError otherwise. */
  decode(
    contentType: string | undefined,
    data: Buffer,
    headers?: Readonly<Record<string, JsonValue>>,
  ): unknown {
    const type = contentType || 'application/json';
    const serializer = this.serializers.forType(type);
    if (!serializer || !this.names.has(serializer.name)) throw this.refusal(type, serializer);
    try {
      return serializer.decode(data, headers);
    } catch (error) {
      if (isCeleriacError(error, 'SecurityError')) throw error;
      throw new DecodeError(`Can't decode message body (${type}): ${(error as Error).message}`);
    }
  }

  private refusal(type: string, serializer: Serializer | undefined): ContentDisallowed {
    const accepted = [...this.names].join(', ');
    const refused = REFUSED[type];
    if (refused) {
      return new ContentDisallowed(
        `Refusing to deserialize untrusted content of type ${refused.name} (${type}): ${refused.why}. Accepted: ${accepted}`,
      );
    }
    const name = serializer?.name ?? this.serializers.nameFor(type);
    if (name === 'auth' && this.names.has('auth')) {
      return new ContentDisallowed(
        type === 'application/x-celeriac-signed'
          ? `Refusing strict-signed content (${type}): this app's security is not in strict mode`
          : this.serializers.forType('application/x-celeriac-signed')
            ? `Refusing signed content without signed headers (${type}, as Python Celery signs): this app's security is in strict mode`
            : `Refusing signed content (${type}): app.setupSecurity() was not called, so no certificate can verify it`,
      );
    }
    if (name === 'auth') {
      return new ContentDisallowed(
        `Refusing signed content (${type}): ${this.setting} does not list "auth". Accepted: ${accepted}`,
      );
    }
    return new ContentDisallowed(
      `Refusing to deserialize untrusted content of type ${name ?? type} (${type}); accepted: ${accepted}`,
    );
  }
}
