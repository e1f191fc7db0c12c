/**
 * The `auth` serializer: message bodies signed as Celery's `SecureSerializer` signs them
 * (`celery/security/serialization.py`, reference §2.4.3), so Python Celery and Celeriac verify each other's
 * messages. Pure: keys and certificates arrive parsed (the app reads the files); node:crypto signs and verifies.
 *
 * The serialized payload is base64(signer ‖ SEP ‖ signature ‖ SEP ‖ content_type ‖ SEP ‖ content_encoding ‖ SEP ‖
 * body) with SEP = `\x00\x01`, where body is the inner serializer's output (JSON by default) and the signature is
 * RSA-PSS with MGF1 and the largest salt over body. The signature is raw bytes and may itself contain SEP, so the
 * reader takes exactly as many bytes as the signer's key size gives, as Celery's `_unpack` does.
 */
import { constants, sign as rsaSign, verify as rsaVerify } from 'node:crypto';
import { SecurityError } from '../errors.js';
import type { JsonValue } from '../types.js';
import type { CertStore, SigningCertificate, SigningKey } from './certificate.js';
import { openStrict, sealStrict, STRICT_CONTENT_TYPE, type StrictOptions } from './signing-strict.js';
import type { Serializer } from './serializers/index.js';

export const AUTH_CONTENT_TYPE = 'application/data';
export const AUTH_CONTENT_ENCODING = 'utf-8';
const SEP = Buffer.from([0x00, 0x01]);

/** Digests Celery's `security_digest` may name (cryptography's hash classes), as node:crypto calls them. */
const DIGESTS: Record<string, { name: string; bytes: number }> = {
  sha224: { name: 'sha224', bytes: 28 },
  sha256: { name: 'sha256', bytes: 32 },
  sha384: { name: 'sha384', bytes: 48 },
  sha512: { name: 'sha512', bytes: 64 },
  sha512_224: { name: 'sha512-224', bytes: 28 },
  sha512_256: { name: 'sha512-256', bytes: 32 },
  sha3_224: { name: 'sha3-224', bytes: 28 },
  sha3_256: { name: 'sha3-256', bytes: 32 },
  sha3_384: { name: 'sha3-384', bytes: 48 },
  sha3_512: { name: 'sha3-512', bytes: 64 },
};
const WEAK_DIGESTS = new Set(['md5', 'sha1']);

export interface Digest {
  /** Celery's name (`sha256`). */
  readonly celeryName: string;
  /** node:crypto's name (`sha256`, `sha3-256`). */
  readonly name: string;
  readonly bytes: number;
}

/** Resolves a `security_digest` value; throws SecurityError naming the setting for unknown or weak digests. */
export function digestFor(setting: string): Digest {
  const key = setting.toLowerCase().replace(/-/g, '_');
  const digest = DIGESTS[key];
  if (!digest) {
    const why = WEAK_DIGESTS.has(key) ? 'is too weak to sign with' : 'is not a digest Celery can sign with';
    throw new SecurityError(
      `securityDigest "${setting}" ${why}: use one of ${Object.keys(DIGESTS).join(', ')} (default sha256)`,
      'invalid-digest',
    );
  }
  return { celeryName: key, ...digest };
}

/** cryptography's `PSS.MAX_LENGTH`, which Celery uses to sign and to verify: the encoded length minus hash and 2. */
function maxSaltLength(modulusBits: number, digest: Digest): number {
  return Math.ceil((modulusBits - 1) / 8) - digest.bytes - 2;
}

function pssOptions(
  key: SigningKey['keyObject'],
  digest: Digest,
): {
  padding: number;
  saltLength: number;
} {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 2048;
  return { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: maxSaltLength(bits, digest) };
}

export function signBody(key: SigningKey, body: Buffer, digest: Digest): Buffer {
  return rsaSign(digest.name, body, { key: key.keyObject, ...pssOptions(key.keyObject, digest) });
}

export function verifyBody(
  cert: SigningCertificate,
  body: Buffer,
  signature: Buffer,
  digest: Digest,
): boolean {
  try {
    return rsaVerify(
      digest.name,
      body,
      { key: cert.publicKey, ...pssOptions(cert.publicKey, digest) },
      signature,
    );
  } catch {
    return false;
  }
}

/** The five fields of a signed payload. */
export interface SignedParts {
  signer: string;
  signature: Buffer;
  contentType: string;
  contentEncoding: string;
  body: Buffer;
}

/** Celery's `_pack`: the fields joined by SEP, base64-encoded (standard alphabet, padded, no newlines). */
export function packSigned(parts: SignedParts): Buffer {
  const joined = Buffer.concat([
    Buffer.from(parts.signer, 'utf8'),
    SEP,
    parts.signature,
    SEP,
    Buffer.from(parts.contentType, 'utf8'),
    SEP,
    Buffer.from(parts.contentEncoding, 'utf8'),
    SEP,
    parts.body,
  ]);
  return Buffer.from(joined.toString('base64'), 'ascii');
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function malformed(what: string): never {
  throw new SecurityError(`Malformed signed message: ${what}`, 'malformed-signature');
}

/**
 * Celery's `_unpack`: reads the signer, looks up its certificate (unknown signers fail here), takes the
 * signature by the certificate's key size, then content type, encoding and body. Stricter than Celery where
 * Celery would read garbage: the separators must be where they belong, and the body is everything after the
 * fourth separator (Celery stops at a fifth, which only a non-JSON body could contain).
 */
export function unpackSigned(
  data: Buffer,
  certs: CertStore,
): { parts: SignedParts; cert: SigningCertificate } {
  const text = data.toString('latin1').replace(/\s+/g, '');
  if (!BASE64_RE.test(text) || text.length % 4 !== 0) malformed('the body is not base64');
  const raw = Buffer.from(text, 'base64');
  const first = raw.indexOf(SEP);
  if (first < 0) malformed('no signer field');
  const signer = raw.subarray(0, first).toString('utf8');
  const cert = certs.get(signer);
  const sigStart = first + SEP.length;
  const sigEnd = sigStart + cert.signatureLength;
  if (sigEnd + SEP.length > raw.length || !raw.subarray(sigEnd, sigEnd + SEP.length).equals(SEP)) {
    malformed(`the signature is not ${cert.signatureLength} bytes followed by a separator`);
  }
  const rest = raw.subarray(sigEnd + SEP.length);
  const typeEnd = rest.indexOf(SEP);
  const encodingEnd = typeEnd < 0 ? -1 : rest.indexOf(SEP, typeEnd + SEP.length);
  if (encodingEnd < 0) malformed('no content type and encoding fields');
  return {
    cert,
    parts: {
      signer,
      signature: raw.subarray(sigStart, sigEnd),
      contentType: rest.subarray(0, typeEnd).toString('utf8'),
      contentEncoding: rest.subarray(typeEnd + SEP.length, encodingEnd).toString('utf8'),
      body: rest.subarray(encodingEnd + SEP.length),
    },
  };
}

export interface AuthOptions {
  /** The producer's key and certificate; without them this serializer only verifies. */
  readonly key?: SigningKey | undefined;
  readonly certificate?: SigningCertificate | undefined;
  /** Certificates whose signatures are trusted. */
  readonly store: CertStore;
  readonly digest: Digest;
  /** What the signed body is serialized with (`serializer` of setup_security, json by default). */
  readonly inner: Serializer;
  /** Serializers a received signed body may use (never pickle or YAML). */
  readonly innerFor: (contentType: string) => Serializer | undefined;
  /** Milliseconds since the epoch, for certificate expiry and strict mode's replay window. */
  readonly now: () => number;
  /** Celeriac's strict mode (not readable by Python Celery): see signing-strict.ts. */
  readonly strict?: StrictOptions | undefined;
}

/** The `auth` serializer for one app. */
export class AuthSerializer implements Serializer {
  readonly name = 'auth';
  readonly contentType: string;
  readonly contentEncoding = AUTH_CONTENT_ENCODING;

  constructor(private readonly options: AuthOptions) {
    this.contentType = options.strict ? STRICT_CONTENT_TYPE : AUTH_CONTENT_TYPE;
  }

  get signerId(): string | undefined {
    return this.options.certificate?.id;
  }

  encode(value: unknown, headers?: Readonly<Record<string, JsonValue>>): Buffer {
    const { key, certificate, inner, digest, strict } = this.options;
    if (!key || !certificate) {
      throw new SecurityError(
        'Cannot sign: no securityKey and securityCertificate were given to setupSecurity()',
        'no-key',
      );
    }
    const payload = strict ? sealStrict(value, headers ?? {}, this.options.now()) : value;
    const body = inner.encode(payload);
    return packSigned({
      signer: certificate.id,
      signature: signBody(key, body, digest),
      contentType: inner.contentType,
      contentEncoding: inner.contentEncoding,
      body,
    });
  }

  decode(data: Buffer, headers?: Readonly<Record<string, JsonValue>>): unknown {
    const { parts, cert } = unpackSigned(data, this.options.store);
    const now = this.options.now();
    if (cert.hasExpired(now)) {
      throw new SecurityError(
        `Expired certificate: ${JSON.stringify(cert.id)} (not valid after ${new Date(cert.notAfter).toISOString()})`,
        'expired-certificate',
      );
    }
    if (now < cert.notBefore) {
      throw new SecurityError(
        `Certificate not yet valid: ${JSON.stringify(cert.id)} (valid from ${new Date(cert.notBefore).toISOString()})`,
        'certificate-not-yet-valid',
      );
    }
    if (!verifyBody(cert, parts.body, parts.signature, this.options.digest)) {
      throw new SecurityError(
        `Bad signature: the body does not match the signature of ${JSON.stringify(cert.id)} ` +
          `(tampered, or signed with another digest than ${this.options.digest.celeryName})`,
        'bad-signature',
      );
    }
    const inner = this.options.innerFor(parts.contentType);
    if (!inner) {
      throw new SecurityError(
        `Signed content of type ${JSON.stringify(parts.contentType)} is refused: Celeriac decodes signed json or msgpack, never pickle or YAML`,
        'signed-content-refused',
      );
    }
    let value: unknown;
    try {
      value = inner.decode(parts.body);
    } catch (error) {
      throw new SecurityError(
        `Signed body is not valid ${inner.name}: ${(error as Error).message}`,
        'signed-body-undecodable',
      );
    }
    const strict = this.options.strict;
    return strict ? openStrict(value, headers ?? {}, now, strict) : value;
  }
}
