/**
 * A worker that accepts only signed messages (`auth`), on real Redis: valid messages run; a tampered body, a
 * signer outside the certificate store, an expired certificate and an unsigned message are each rejected with a
 * log line naming why, dead-lettered with that reason and recorded as FAILURE (the caller's get() fails instead
 * of waiting forever), and the worker keeps consuming: the next valid message runs. Strict mode refuses a
 * message whose task header was changed after signing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { Celery, RemoteTaskError, Worker, type CeleryOptions } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { encodeTaskMessage, type WireMessage } from '../../src/protocol/message.js';
import { capturingLogger } from '../semantics/harness.js';
import { makeExpiredSigner, makeSigner, type Signer } from '../support/certificates.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

const prefix = testPrefix('signing-worker');
const queue = `signed-${uuid().slice(0, 8)}`;
const strictQueue = `${queue}-strict`;
const dir = tempDir('signing-worker');
const redis = testClient();
const taskIds: string[] = [];
const apps: Celery[] = [];
let alice: Signer;
let mallory: Signer;
let expired: Signer;
let worker: Worker;
let strictWorker: Worker;
const log = capturingLogger();

function options(extra: CeleryOptions = {}): CeleryOptions {
  return {
    broker: REDIS_URL,
    backend: REDIS_URL,
    taskDefaultQueue: queue,
    brokerTransportOptions: { global_keyprefix: prefix },
    resultExpires: 600,
    taskSerializer: 'auth',
    acceptContent: ['auth'],
    resultAcceptContent: ['json'],
    securityCertStore: `${dir.path}/trusted/*.pem`,
    ...extra,
  };
}

function signedApp(name: string, signer: Signer, extra: CeleryOptions = {}): Celery {
  const app = new Celery(
    name,
    options({ securityKey: signer.key, securityCertificate: signer.cert, ...extra }),
  );
  app.logger = silentLogger();
  apps.push(app);
  return app;
}

beforeAll(async () => {
  alice = makeSigner(`${dir.path}/trusted`, 'alice');
  expired = makeExpiredSigner(dir.path, 'expired');
  mallory = makeSigner(`${dir.path}/untrusted`, 'mallory');
  // The expired certificate sits in the store: its messages are refused with a reason saying so.
  const { copyFileSync } = await import('node:fs');
  copyFileSync(expired.cert, `${dir.path}/trusted/expired.pem`);
  const app = signedApp('signing-worker', alice).setupSecurity();
  app.task('signing.add', (x: number, y: number) => x + y);
  worker = new Worker(app, { queues: [queue], logger: log.logger, concurrency: 2 });
  const strictApp = signedApp('signing-strict', alice).setupSecurity({ strict: { window: 60 } });
  strictApp.task('signing.add', (x: number, y: number) => x + y);
  strictApp.task('signing.dangerous', () => 'should never run');
  strictWorker = new Worker(strictApp, { queues: [strictQueue], logger: log.logger });
  await Promise.all([worker.start(), strictWorker.start()]);
});

afterAll(async () => {
  await Promise.all([worker?.stop(), strictWorker?.stop()]);
  await Promise.all(apps.map((a) => a.close()));
  if (taskIds.length > 0) await redis.del(...taskIds.map((id) => `celery-task-meta-${id}`));
  await deletePrefix(redis, prefix);
  redis.disconnect();
  dir.remove();
});

async function send(
  app: Celery,
  args: number[],
  q = queue,
): Promise<{ id: string; get(): Promise<unknown> }> {
  const result = await app.sendTask('signing.add', args, {}, { queue: q });
  taskIds.push(result.id);
  return { id: result.id, get: () => result.get({ timeout: 15, propagate: false }) };
}

async function publishRaw(app: Celery, wire: WireMessage, q = queue): Promise<string> {
  const id = wire.headers.id as string;
  taskIds.push(id);
  await (await app.getBroker()).publish(wire, { exchange: '', routingKey: q });
  return id;
}

/** Waits for the FAILURE the worker stores for a rejected message, then checks the log, the dead letter and that the next valid message runs. */
async function expectRejected(
  app: Celery,
  id: string,
  reason: string,
  why: RegExp,
  q = queue,
): Promise<void> {
  const error = await app.AsyncResult(id).get({ timeout: 15, propagate: false });
  expect(error).toBeInstanceOf(RemoteTaskError);
  expect((error as RemoteTaskError).excType).toBe('InvalidTaskError');
  expect((error as RemoteTaskError).remoteMessage).toMatch(why);
  const line = log.lines.find(
    (l) => l.msg.includes(id) || (l.msg.includes(`(${reason})`) && why.test(l.msg)),
  );
  expect(line?.msg).toMatch(why);
  expect(line?.msg).toContain(`(${reason})`);
  const broker = (await app.getBroker()) as RedisBroker;
  expect((await broker.deadLetters(q)).map((d) => d.reason)).toContain(reason);
  const client = signedApp(`next-${reason}`, alice).setupSecurity(
    q === strictQueue ? { strict: { window: 60 } } : {},
  );
  expect(await (await send(client, [20, 22], q)).get()).toBe(42);
}

describe('a worker that accepts only signed messages', () => {
  it('runs a message signed by a certificate in its store', async () => {
    const client = signedApp('alice-client', alice).setupSecurity();
    expect(await (await send(client, [2, 3])).get()).toBe(5);
  });

  it('rejects a tampered body (bad-signature)', async () => {
    const client = signedApp('tamper-client', alice).setupSecurity();
    const id = uuid();
    const wire = encodeTaskMessage(
      { id, task: 'signing.add', args: [2, 3], kwargs: {}, origin: 'test', replyTo: client.oid },
      { serializer: 'auth', serializers: client.serializers, now: Date.now() },
    );
    const packed = Buffer.from(wire.body.toString('ascii'), 'base64');
    const at = packed.lastIndexOf(Buffer.from('[[2,3]'));
    packed[at + 2] = '7'.charCodeAt(0);
    await publishRaw(client, { ...wire, body: Buffer.from(packed.toString('base64'), 'ascii') });
    await expectRejected(client, id, 'bad-signature', /Bad signature/);
  });

  it('rejects a message signed by a certificate outside the store (unknown-certificate)', async () => {
    const client = signedApp('mallory-client', mallory, {
      securityCertStore: mallory.cert,
    }).setupSecurity();
    const { id } = await send(client, [6, 6]);
    await expectRejected(client, id, 'unknown-certificate', /Unknown certificate: ".*mallory \d+"/);
  });

  it('rejects a message signed with an expired certificate (expired-certificate)', async () => {
    const client = signedApp('expired-client', expired).setupSecurity();
    const { id } = await send(client, [1, 1]);
    await expectRejected(
      client,
      id,
      'expired-certificate',
      /Expired certificate: .*not valid after 2020-01-02/,
    );
  });

  it('rejects an unsigned message (content-type-not-accepted)', async () => {
    const plain = new Celery('plain-client', {
      ...options(),
      taskSerializer: 'json',
      acceptContent: ['json'],
    });
    plain.logger = silentLogger();
    apps.push(plain);
    const { id } = await send(plain, [3, 4]);
    await expectRejected(
      plain,
      id,
      'content-type-not-accepted',
      /Refusing to deserialize untrusted content of type json/,
    );
  });

  it('rejects a pickle message, saying why', async () => {
    const client = signedApp('pickle-client', alice).setupSecurity();
    const id = await publishRaw(client, {
      headers: { task: 'signing.add', id: uuid(), lang: 'py' },
      properties: { correlation_id: 'x' },
      contentType: 'application/x-python-serialize',
      contentEncoding: 'binary',
      body: Buffer.from('\x80\x04K\x01.', 'latin1'),
    });
    await expectRejected(client, id, 'content-type-not-accepted', /never decodes pickle/);
  });
});

describe('strict mode', () => {
  it('runs strict-signed messages and refuses one whose task header was changed after signing', async () => {
    const client = signedApp('strict-client', alice).setupSecurity({ strict: { window: 60 } });
    expect(await (await send(client, [5, 5], strictQueue)).get()).toBe(10);
    const id = uuid();
    const wire = encodeTaskMessage(
      { id, task: 'signing.add', args: [1, 2], kwargs: {}, origin: 'test', replyTo: client.oid },
      { serializer: 'auth', serializers: client.serializers, now: Date.now() },
    );
    await publishRaw(
      client,
      { ...wire, headers: { ...wire.headers, task: 'signing.dangerous' } },
      strictQueue,
    );
    await expectRejected(client, id, 'header-mismatch', /Header task was changed after signing/, strictQueue);
  });

  it('refuses a message signed the Celery way (no signed headers)', async () => {
    const client = signedApp('plain-auth-client', alice).setupSecurity();
    const { id } = await send(client, [1, 2], strictQueue);
    await expectRejected(client, id, 'content-type-not-accepted', /security is in strict mode/, strictQueue);
  });
});
