/**
 * X.509 certificates and RSA keys for message signing, as `celery/security/certificate.py` and `key.py` use them.
 * Pure: parses PEM text handed in by the app (which reads the files); node:crypto does every cryptographic step.
 *
 * A certificate is known by Celery's id, `"<issuer attribute values joined by spaces> <serial in decimal>"`
 * (`Certificate.get_id`). Node's `X509Certificate.issuer` escapes values as RFC 2253 asks (`Acme\, Inc.`) while
 * Celery joins the raw values, so the issuer is read from the certificate's DER here, attribute by attribute.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { SecurityError } from '../errors.js';

interface Tlv {
  tag: number;
  /** Offset of the first content byte. */
  start: number;
  /** Offset just past the content. */
  end: number;
}

function malformed(what: string): never {
  throw new SecurityError(`Invalid certificate: ${what}`, 'invalid-certificate');
}

/** One DER element at `offset` (definite lengths only, as DER requires). */
function readTlv(der: Buffer, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) malformed('truncated DER');
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > limit) malformed('bad DER length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i]!;
    start += bytes;
  }
  const end = start + length;
  if (end > limit) malformed('DER element runs past its parent');
  return { tag, start, end };
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end;) {
    const child = readTlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** A directory string as Python's cryptography decodes it into `NameAttribute.value`. */
function nameValue(der: Buffer, value: Tlv): string {
  const bytes = der.subarray(value.start, value.end);
  switch (value.tag) {
    case 0x0c: // UTF8String
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x12: // NumericString
    case 0x1a: // VisibleString
      return bytes.toString('utf8');
    case 0x14: // T61String: cryptography reads it as Latin-1
      return bytes.toString('latin1');
    case 0x1e: // BMPString: UTF-16, big-endian
      return Buffer.from(bytes).swap16().toString('utf16le');
    case 0x1c: {
      // UniversalString: UTF-32, big-endian
      let text = '';
      for (let i = 0; i + 3 < bytes.length; i += 4) text += String.fromCodePoint(bytes.readUInt32BE(i));
      return text;
    }
    default:
      return malformed(`issuer attribute of ASN.1 type 0x${value.tag.toString(16)} is not a string`);
  }
}

/** Two's-complement DER INTEGER, in decimal as Python prints an int. */
function integer(der: Buffer, value: Tlv): string {
  if (value.tag !== 0x02 || value.end === value.start) malformed('the serial number is not an INTEGER');
  let n = BigInt(`0x${der.subarray(value.start, value.end).toString('hex')}`);
  if (der[value.start]! & 0x80) n -= 1n << BigInt(8 * (value.end - value.start));
  return n.toString();
}

/** Celery's certificate id: issuer attribute values joined by spaces, a space, the serial number in decimal. */
export function certificateId(der: Buffer): string {
  const cert = readTlv(der, 0, der.length);
  if (cert.tag !== 0x30) malformed('not a DER SEQUENCE');
  const tbs = children(der, cert)[0];
  if (!tbs || tbs.tag !== 0x30) malformed('no tbsCertificate');
  const fields = children(der, tbs);
  // An explicit [0] version comes first in v2 and v3 certificates.
  const base = fields[0]?.tag === 0xa0 ? 1 : 0;
  const serial = fields[base];
  const issuer = fields[base + 2];
  if (!serial || !issuer || issuer.tag !== 0x30) malformed('no issuer name');
  const values: string[] = [];
  for (const rdn of children(der, issuer)) {
    for (const attribute of children(der, rdn)) {
      const value = children(der, attribute)[1];
      if (!value) malformed('an issuer attribute has no value');
      values.push(nameValue(der, value));
    }
  }
  return `${values.join(' ')} ${integer(der, serial)}`;
}

/** A signer's certificate: its Celery id, validity and RSA public key. */
export class SigningCertificate {
  readonly id: string;
  /** Milliseconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly publicKey: KeyObject;
  /** Bytes in a signature made with this certificate's key (`key_size >> 3` in Celery). */
  readonly signatureLength: number;
  private readonly x509: X509Certificate;

  constructor(pem: string | Buffer) {
    try {
      this.x509 = new X509Certificate(pem);
    } catch (error) {
      throw new SecurityError(`Invalid certificate: ${(error as Error).message}`, 'invalid-certificate');
    }
    this.publicKey = this.x509.publicKey;
    const bits = this.publicKey.asymmetricKeyDetails?.modulusLength;
    if (this.publicKey.asymmetricKeyType !== 'rsa' || bits === undefined) {
      throw new SecurityError(
        `Certificate ${this.x509.subject.replace(/\n/g, ', ')} has a ${String(this.publicKey.asymmetricKeyType)} key: ` +
          'Celery signs with RSA-PSS, so signing certificates must carry an RSA key',
        'invalid-certificate',
      );
    }
    this.signatureLength = Math.ceil(bits / 8);
    this.id = certificateId(this.x509.raw);
    this.notBefore = Date.parse(this.x509.validFrom);
    this.notAfter = Date.parse(this.x509.validTo);
  }

  /** Celery's `has_expired`: expired once the clock reaches notAfter. */
  hasExpired(now: number): boolean {
    return now >= this.notAfter;
  }

  /** Whether this certificate was issued for `key` (the key's public half is the certificate's). */
  matches(key: SigningKey): boolean {
    return this.x509.checkPrivateKey(key.keyObject);
  }
}

/** The private RSA key a producer signs with (`security_key`). */
export class SigningKey {
  readonly keyObject: KeyObject;

  constructor(pem: string | Buffer, passphrase?: string) {
    try {
      this.keyObject = createPrivateKey(passphrase === undefined ? pem : { key: pem, passphrase });
    } catch (error) {
      throw new SecurityError(`Invalid private key: ${(error as Error).message}`, 'invalid-key');
    }
    if (this.keyObject.asymmetricKeyType !== 'rsa') {
      throw new SecurityError(
        `The private key is ${String(this.keyObject.asymmetricKeyType)}: Celery signs with RSA-PSS, use an RSA key`,
        'invalid-key',
      );
    }
  }
}

/**
 * The certificates whose signatures are trusted, by id (Celery's `CertStore`). Unlike Celery, an expired
 * certificate may sit in the store: messages it signed are refused with a reason that says it expired.
 */
export class CertStore {
  private readonly certs = new Map<string, SigningCertificate>();

  add(cert: SigningCertificate): void {
    if (this.certs.has(cert.id))
      throw new SecurityError(`Duplicate certificate: ${JSON.stringify(cert.id)}`, 'duplicate-certificate');
    this.certs.set(cert.id, cert);
  }

  /** The certificate with this id; throws SecurityError (`unknown-certificate`) when there is none. */
  get(id: string): SigningCertificate {
    const cert = this.certs.get(id);
    if (!cert) throw new SecurityError(`Unknown certificate: ${JSON.stringify(id)}`, 'unknown-certificate');
    return cert;
  }

  has(id: string): boolean {
    return this.certs.has(id);
  }

  get size(): number {
    return this.certs.size;
  }

  values(): IterableIterator<SigningCertificate> {
    return this.certs.values();
  }
}
