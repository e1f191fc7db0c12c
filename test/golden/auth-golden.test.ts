/**
 * Golden tests of the `auth` serializer against messages signed by the real Celery 5.2.6 (fixtures recorded by
 * capture_auth.py; see its header to regenerate them): our certificate ids are Celery's, our reader verifies what
 * Celery signed (a signature that contains the separator bytes included), and our writer lays the fields out
 * byte for byte as Celery's `_pack`.
 */
import { describe, expect, it } from 'vitest';
import { SecurityError } from '../../src/errors.js';
import {
  AcceptPolicy,
  AuthSerializer,
  CertStore,
  Serializers,
  SigningCertificate,
  decodeEnvelope,
  decodeTaskMessage,
  digestFor,
  packSigned,
  unpackSigned,
  type WireMessage,
} from '../../src/protocol/index.js';
import { authFixture } from './fixtures.js';

const fixture = authFixture!;
const builtins = new Serializers();
const SEP = Buffer.from([0, 1]);

function verifier(...pems: string[]): AuthSerializer {
  const store = new CertStore();
  for (const pem of pems) store.add(new SigningCertificate(pem));
  return new AuthSerializer({
    store,
    digest: digestFor('sha256'),
    inner: builtins.get('json'),
    innerFor: (type) => builtins.forType(type),
    now: () => Date.now(),
  });
}

function acceptAuth(serializer: AuthSerializer): AcceptPolicy {
  const registry = new Serializers();
  registry.register(serializer);
  return new AcceptPolicy(['auth'], registry);
}

function wireOf(raw: string): WireMessage {
  return decodeEnvelope(raw).message;
}

describe.each(fixture.cases)('Celery-signed message ($name)', (c) => {
  const raw = c.messages[0]!.raw;

  it("computes Celery's certificate id: raw issuer values joined by spaces, then the decimal serial", () => {
    expect(new SigningCertificate(c.certificate).id).toBe(c.signer_id);
  });

  it('verifies and decodes the message as the worker does', () => {
    const wire = wireOf(raw);
    expect(wire.contentType).toBe('application/data');
    expect(wire.contentEncoding).toBe('utf-8');
    const message = decodeTaskMessage(wire, acceptAuth(verifier(c.certificate)));
    expect(message.id).toBe(fixture.task_id);
    expect(message.task).toBe('golden.add');
    expect([message.args, message.kwargs, message.embed]).toEqual(fixture.body);
  });

  it("re-packs the unpacked fields into Celery's exact bytes", () => {
    const body = wireOf(raw).body;
    const store = new CertStore();
    store.add(new SigningCertificate(c.certificate));
    const { parts } = unpackSigned(body, store);
    expect(parts.signer).toBe(c.signer_id);
    expect(parts.signature).toHaveLength(c.key_bits / 8);
    expect(parts.contentType).toBe('application/json');
    expect(parts.contentEncoding).toBe('utf-8');
    expect(JSON.parse(parts.body.toString('utf8'))).toEqual(fixture.body);
    expect(parts.signature.includes(SEP)).toBe(c.signature_has_separator);
    expect(packSigned(parts).equals(body)).toBe(true);
  });

  it('refuses the message once a byte of the signed body changes, or with another certificate store', () => {
    const wire = wireOf(raw);
    const decoded = Buffer.from(wire.body.toString('ascii'), 'base64');
    const at = decoded.lastIndexOf(Buffer.from('[[2, 3]'));
    expect(at).toBeGreaterThan(0);
    decoded[at + 2] = '9'.charCodeAt(0);
    const tampered = { ...wire, body: Buffer.from(decoded.toString('base64'), 'ascii') };
    const reason = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (error) {
        return (error as { reason?: string }).reason;
      }
      return undefined;
    };
    expect(reason(() => decodeTaskMessage(tampered, acceptAuth(verifier(c.certificate))))).toBe(
      'bad-signature',
    );
    const other = fixture.cases.find((o) => o.name !== c.name)!;
    expect(reason(() => decodeTaskMessage(wire, acceptAuth(verifier(other.certificate))))).toBe(
      'unknown-certificate',
    );
    expect(() => verifier(other.certificate).decode(wire.body)).toThrow(SecurityError);
  });
});
