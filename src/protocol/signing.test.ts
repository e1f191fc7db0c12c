import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeExpiredSigner, makeSigner, type Signer } from '../../test/support/certificates.js';
import { SecurityError } from '../errors.js';
import { CertStore, SigningCertificate, SigningKey } from './certificate.js';
import { decodeTaskMessage, encodeTaskMessage, type TaskMessageSpec } from './message.js';
import { AcceptPolicy, Serializers } from './serializers/index.js';
import { AuthSerializer, digestFor, packSigned, unpackSigned, type AuthOptions } from './signing.js';
import { STRICT_CONTENT_TYPE } from './signing-strict.js';

const builtins = new Serializers();
let dir: string;
let alice: Signer;
let mallory: Signer;
let expired: Signer;
let big: Signer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-signing-'));
  alice = makeSigner(dir, 'alice');
  mallory = makeSigner(dir, 'mallory');
  expired = makeExpiredSigner(dir, 'expired');
  big = makeSigner(dir, 'big', { bits: 3072 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pem = (path: string): Buffer => readFileSync(path);
const cert = (s: Signer): SigningCertificate => new SigningCertificate(pem(s.cert));

function store(...signers: Signer[]): CertStore {
  const out = new CertStore();
  for (const s of signers) out.add(cert(s));
  return out;
}

function auth(signer: Signer | null, trusted: CertStore, extra: Partial<AuthOptions> = {}): AuthSerializer {
  return new AuthSerializer({
    key: signer ? new SigningKey(pem(signer.key)) : undefined,
    certificate: signer ? cert(signer) : undefined,
    store: trusted,
    digest: digestFor('sha256'),
    inner: builtins.get('json'),
    innerFor: (type) => builtins.forType(type),
    now: () => Date.now(),
    ...extra,
  });
}

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SecurityError);
    return (error as SecurityError).reason;
  }
  throw new Error('expected a SecurityError');
}

const body = [[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }];

describe('auth serializer', () => {
  it('signs and verifies a body, in Celery layout', () => {
    const serializer = auth(alice, store(alice));
    const data = serializer.encode(body);
    expect(serializer.contentType).toBe('application/data');
    expect(serializer.decode(data)).toEqual(body);
    const { parts } = unpackSigned(data, store(alice));
    expect(parts.signer).toBe(cert(alice).id);
    expect(parts.signer).toMatch(/^Celeriac tests alice \d+$/);
    expect(parts.signature).toHaveLength(256);
    expect(parts.contentType).toBe('application/json');
    expect(parts.contentEncoding).toBe('utf-8');
    expect(packSigned(parts)).toEqual(data);
  });

  it('takes the signature by key size (3072-bit keys sign 384 bytes)', () => {
    const data = auth(big, store(big)).encode(body);
    expect(unpackSigned(data, store(big)).parts.signature).toHaveLength(384);
    expect(auth(null, store(big)).decode(data)).toEqual(body);
  });

  it('refuses a tampered body, an unknown signer and an expired certificate, each with its reason', () => {
    const data = auth(alice, store(alice)).encode(body);
    const raw = Buffer.from(data.toString(), 'base64');
    const tampered = Buffer.from(raw.toString('latin1').replace('[[2,3]', '[[9,3]'), 'latin1');
    expect(reasonOf(() => auth(null, store(alice)).decode(Buffer.from(tampered.toString('base64'))))).toBe(
      'bad-signature',
    );
    expect(reasonOf(() => auth(null, store(mallory)).decode(data))).toBe('unknown-certificate');
    const old = auth(expired, store(expired)).encode(body);
    expect(reasonOf(() => auth(null, store(expired)).decode(old))).toBe('expired-certificate');
    // Mallory signs with her key but claims to be Alice.
    const forged = packSigned({
      ...unpackSigned(auth(mallory, store(mallory)).encode(body), store(mallory)).parts,
      signer: cert(alice).id,
    });
    expect(reasonOf(() => auth(null, store(alice, mallory)).decode(forged))).toBe('bad-signature');
  });

  it('refuses signatures made with another digest', () => {
    const data = auth(alice, store(alice), { digest: digestFor('sha512') }).encode(body);
    expect(reasonOf(() => auth(null, store(alice)).decode(data))).toBe('bad-signature');
    expect(auth(null, store(alice), { digest: digestFor('sha512') }).decode(data)).toEqual(body);
  });

  it('refuses signed pickle: the signature does not make unpickling safe', () => {
    const signer = auth(alice, store(alice), {
      inner: { ...builtins.get('json'), contentType: 'application/x-python-serialize' },
    });
    expect(reasonOf(() => auth(null, store(alice)).decode(signer.encode(body)))).toBe(
      'signed-content-refused',
    );
  });

  it('names weak and unknown digests', () => {
    expect(() => digestFor('md5')).toThrow(/too weak/);
    expect(() => digestFor('sha1')).toThrow(/too weak/);
    expect(() => digestFor('whirlpool')).toThrow(/sha256/);
    expect(digestFor('SHA3_256').name).toBe('sha3-256');
  });

  it('refuses a duplicate certificate and a non-RSA key, as Celery does', () => {
    expect(() => store(alice, alice)).toThrow(/Duplicate certificate/);
    expect(() => new SigningKey('not a key')).toThrow(/Invalid private key/);
  });
});

describe('auth in task messages', () => {
  const spec: TaskMessageSpec = {
    id: 'id-1',
    task: 'tasks.add',
    args: [2, 3],
    kwargs: {},
    origin: 'o',
    replyTo: 'r',
  };

  function registry(serializer: AuthSerializer): Serializers {
    const out = new Serializers();
    out.register(serializer);
    return out;
  }

  it('round-trips through encodeTaskMessage and decodeTaskMessage, compressed too', () => {
    const serializer = auth(alice, store(alice));
    const accept = new AcceptPolicy(['auth'], registry(serializer));
    for (const compression of [null, 'zlib']) {
      const wire = encodeTaskMessage(spec, {
        serializer: 'auth',
        serializers: registry(serializer),
        compression,
        now: 0,
      });
      expect(wire.contentType).toBe('application/data');
      expect(decodeTaskMessage(wire, accept).args).toEqual([2, 3]);
    }
  });

  it('rejects an unsigned message on a worker that accepts only auth, with the reason', () => {
    const accept = new AcceptPolicy(['auth'], registry(auth(null, store(alice))));
    const wire = encodeTaskMessage(spec, { serializer: 'json', now: 0 });
    expect(() => decodeTaskMessage(wire, accept)).toThrow(
      expect.objectContaining({ reason: 'content-type-not-accepted', taskId: 'id-1' }),
    );
  });

  it('strict mode signs the deciding headers and refuses changes and replays', () => {
    let now = Date.now();
    const strict = auth(alice, store(alice), { strict: { windowMs: 60_000 }, now: () => now });
    const accept = new AcceptPolicy(['auth'], registry(strict));
    const wire = encodeTaskMessage(spec, { serializer: 'auth', serializers: registry(strict), now });
    expect(wire.contentType).toBe(STRICT_CONTENT_TYPE);
    expect(decodeTaskMessage(wire, accept).task).toBe('tasks.add');
    const renamed = { ...wire, headers: { ...wire.headers, task: 'tasks.delete_everything' } };
    expect(() => decodeTaskMessage(renamed, accept)).toThrow(
      expect.objectContaining({
        reason: 'header-mismatch',
        message: expect.stringMatching(/Header task was changed/),
      }),
    );
    now += 61_000;
    expect(() => decodeTaskMessage(wire, accept)).toThrow(
      expect.objectContaining({ reason: 'replay-window' }),
    );
    // A plain Celery-signed message has no signed headers: a strict worker refuses it.
    const plain = encodeTaskMessage(spec, {
      serializer: 'auth',
      serializers: registry(auth(alice, store(alice))),
      now,
    });
    expect(() => decodeTaskMessage(plain, accept)).toThrow(/strict mode/);
  });

  it('strict mode counts the window from a later ETA', () => {
    let now = Date.now();
    const strict = auth(alice, store(alice), { strict: { windowMs: 60_000 }, now: () => now });
    const accept = new AcceptPolicy(['auth'], registry(strict));
    const wire = encodeTaskMessage(
      { ...spec, eta: now + 3_600_000 },
      { serializer: 'auth', serializers: registry(strict), now },
    );
    now += 3_600_000 + 30_000;
    expect(decodeTaskMessage(wire, accept).id).toBe('id-1');
  });
});
