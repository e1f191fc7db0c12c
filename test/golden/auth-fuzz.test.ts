/**
 * Fuzzing the `auth` decoder (100,000 cases): whatever a queue holds, verifying a signed body either yields the
 * value that was signed or throws SecurityError with a reason code and a message, never another error and never
 * a crash. Inputs range from random bytes to near-valid payloads (the trusted signer's id with random
 * signatures, content types and bodies) and single-byte mutations, truncations and extensions of a payload that
 * Celery 5.2.6 signed (golden fixture), so most cases reach the RSA verification.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidTaskError, SecurityError } from '../../src/errors.js';
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

const TOTAL_CASES = 100_000;
const fixture = authFixture!;
const builtins = new Serializers();
const golden = fixture.cases.find((c) => c.key_bits === 2048)!;
const store = new CertStore();
for (const c of fixture.cases) store.add(new SigningCertificate(c.certificate));
const serializer = new AuthSerializer({
  store,
  digest: digestFor('sha256'),
  inner: builtins.get('json'),
  innerFor: (type) => builtins.forType(type),
  now: () => Date.now(),
});
const registry = new Serializers();
registry.register(serializer);
const accept = new AcceptPolicy(['auth'], registry);

const validWire: WireMessage = decodeEnvelope(golden.messages[0]!.raw).message;
const validRaw = Buffer.from(validWire.body.toString('ascii'), 'base64');
const validParts = unpackSigned(validWire.body, store).parts;
const signerIds = fixture.cases.map((c) => c.signer_id);

const counts = new Map<string, number>();
const REASON = /^[a-z-]+$/;
const SIGNED_BODY = JSON.stringify(fixture.body);

/** Decodes; returns 'ok' (only for the signed value) or the SecurityError's reason; fails on anything else. */
function verdict(data: Buffer): string {
  let value: unknown;
  try {
    value = serializer.decode(data);
  } catch (error) {
    // Plain checks, not expect(): they run 100,000 times.
    if (!(error instanceof SecurityError)) throw error;
    if (!REASON.test(error.reason) || error.message.length === 0)
      throw new Error(`unclear rejection: ${error.reason}: ${error.message}`);
    counts.set(error.reason, (counts.get(error.reason) ?? 0) + 1);
    return error.reason;
  }
  // A signature only verifies for the exact bytes Celery signed, so a decoded value is the signed body.
  if (JSON.stringify(value) !== SIGNED_BODY) throw new Error(`decoded ${JSON.stringify(value)}`);
  counts.set('ok', (counts.get('ok') ?? 0) + 1);
  return 'ok';
}

const bytes = (max: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));

/** Payloads packed from fields that are each often right: the trusted signer, a signature of the right size. */
const packed = fc
  .record({
    signer: fc.oneof(fc.constantFrom(...signerIds), fc.string({ maxLength: 40 })),
    signature: fc.oneof(
      fc.constant(validParts.signature),
      fc.uint8Array({ minLength: 256, maxLength: 256 }).map((b) => Buffer.from(b)),
      bytes(300),
    ),
    contentType: fc.constantFrom(
      'application/json',
      'application/x-msgpack',
      'application/x-python-serialize',
      'application/x-yaml',
      '',
      'text/plain',
    ),
    contentEncoding: fc.constantFrom('utf-8', 'binary', ''),
    body: fc.oneof(
      fc.constant(validParts.body),
      bytes(80),
      fc.json().map((j) => Buffer.from(j)),
    ),
  })
  .map((parts) => packSigned(parts));

/** The golden payload with one change: a byte replaced, the end cut off or something appended. */
const mutated = fc.oneof(
  fc.tuple(fc.nat({ max: validRaw.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => {
    const copy = Buffer.from(validRaw);
    copy[at] = copy[at]! ^ xor;
    return Buffer.from(copy.toString('base64'));
  }),
  fc.nat({ max: validRaw.length }).map((end) => Buffer.from(validRaw.subarray(0, end).toString('base64'))),
  bytes(8).map((tail) => Buffer.from(Buffer.concat([validRaw, tail]).toString('base64'))),
  fc.tuple(fc.nat({ max: validWire.body.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
    const copy = Buffer.from(validWire.body);
    copy[at] = byte;
    return copy;
  }),
);

const anything = fc.oneof(
  bytes(200),
  bytes(400).map((b) => Buffer.from(b.toString('base64'))),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
);

describe('auth decoder fuzzing', () => {
  it(`rejects every bad payload cleanly (${TOTAL_CASES.toLocaleString('en')} cases)`, () => {
    fc.assert(
      fc.property(fc.oneof(anything, packed, mutated), (data) => {
        verdict(data);
      }),
      { numRuns: TOTAL_CASES - 1_000 },
    );
    // Reasons seen, so a change that stops inputs from reaching verification shows up here.
    expect(counts.get('bad-signature') ?? 0).toBeGreaterThan(10_000);
    expect(counts.get('malformed-signature') ?? 0).toBeGreaterThan(10_000);
    expect(counts.get('unknown-certificate') ?? 0).toBeGreaterThan(1_000);
  });

  it('rejects bad payloads through the worker decoder with InvalidTaskError and a reason (1,000 cases)', () => {
    fc.assert(
      fc.property(fc.oneof(packed, mutated), (body) => {
        try {
          decodeTaskMessage({ ...validWire, body }, accept);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidTaskError);
          expect((error as InvalidTaskError).reason).toMatch(/^[a-z-]+$/);
          expect((error as InvalidTaskError & { taskId?: string }).taskId).toBe(fixture.task_id);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});
