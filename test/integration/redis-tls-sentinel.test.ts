/**
 * `rediss://` (TLS, verified against a CA by default) and `sentinel://` (master found through a Sentinel), for the
 * broker and the result backend, against private redis-servers started by the test; TLS also turned on by
 * `brokerUseSsl` / `redisBackendUseSsl`, a wrong CA refused with a message naming the fix, and mutual TLS (a
 * server that requires client certificates) with kombu's `ssl_certfile` / `ssl_keyfile`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, ConnectionError, Worker, type CeleryOptions } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { makeOtherCa } from '../support/certificates.js';
import { PrivateRedis } from '../support/redis.js';

let tls: PrivateRedis;
let mutual: PrivateRedis;
let master: PrivateRedis;
let sentinel: PrivateRedis;

beforeAll(async () => {
  [tls, mutual, master] = await Promise.all([
    PrivateRedis.start({ tls: true }),
    PrivateRedis.start({ tls: true, tlsAuthClients: true }),
    PrivateRedis.start(),
  ]);
  sentinel = await PrivateRedis.start({ sentinelOf: master.port });
});
afterAll(async () => {
  await Promise.all([tls?.stop(), mutual?.stop(), sentinel?.stop(), master?.stop()]);
});

/** Sends add(2, 3) through a worker on `url` (broker and backend) and returns the result. */
async function roundTrip(
  url: string,
  transportOptions: Record<string, unknown> = {},
  extra: CeleryOptions = {},
): Promise<number> {
  const options = {
    broker: url,
    backend: url,
    brokerTransportOptions: transportOptions,
    resultBackendTransportOptions: transportOptions,
    brokerConnectionMaxRetries: 1,
    ...extra,
  };
  const app = new Celery('urls', options);
  app.logger = silentLogger();
  app.task('urls.add', (x: number, y: number) => x + y);
  const worker = new Worker(app, { queues: ['urls'], logger: silentLogger() });
  const client = new Celery('urls-client', options);
  client.logger = silentLogger();
  try {
    await worker.start();
    const result = await client.sendTask<number>('urls.add', [2, 3], {}, { queue: 'urls' });
    return await result.get({ timeout: 10 });
  } finally {
    await worker.stop();
    await client.close();
  }
}

describe('Redis URLs', () => {
  it('speaks TLS with rediss://, verifying the server against ssl_ca_certs', async () => {
    const ca = encodeURIComponent(tls.certificates!.ca);
    expect(
      await roundTrip(`rediss://127.0.0.1:${tls.port}/0?ssl_cert_reqs=required&ssl_ca_certs=${ca}`),
    ).toBe(5);
  });

  it('refuses a server certificate it cannot verify, unless ssl_cert_reqs=none', async () => {
    const app = new Celery('tls-refused', {
      broker: `rediss://127.0.0.1:${tls.port}/0`,
      brokerConnectionMaxRetries: 0,
    });
    app.logger = silentLogger();
    const error = await app.getBroker().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/certificate/i);
    expect((error as Error).message).toContain(`rediss://127.0.0.1:${tls.port}/0`);
    expect(await roundTrip(`rediss://127.0.0.1:${tls.port}/0?ssl_cert_reqs=none`)).toBe(5);
  });

  it('refuses a server certificate signed by another CA, naming the fix', async () => {
    const other = encodeURIComponent(makeOtherCa(`${tls.dir}/other`));
    const url = `rediss://127.0.0.1:${tls.port}/0?ssl_cert_reqs=required&ssl_ca_certs=${other}`;
    const app = new Celery('tls-wrong-ca', { broker: url, brokerConnectionMaxRetries: 0 });
    app.logger = silentLogger();
    const error = await app.getBroker().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/self-signed certificate in certificate chain/);
    expect((error as Error).message).toMatch(
      /not signed by a CA this client trusts; give that CA with ssl_ca_certs/,
    );
  });

  it('connects with ssl_cert_reqs=optional (no verification in Node, as none)', async () => {
    expect(await roundTrip(`rediss://127.0.0.1:${tls.port}/0?ssl_cert_reqs=optional`)).toBe(5);
  });

  it('turns TLS on for redis:// URLs with brokerUseSsl and redisBackendUseSsl, verified against their CA', async () => {
    const ssl = { ssl_ca_certs: tls.certificates!.ca, ssl_cert_reqs: 'required' };
    expect(
      await roundTrip(`redis://127.0.0.1:${tls.port}/0`, {}, { brokerUseSsl: ssl, redisBackendUseSsl: ssl }),
    ).toBe(5);
    const backendOnly = new Celery('tls-backend-only', {
      broker: 'memory://tls-backend-only',
      backend: `redis://127.0.0.1:${tls.port}/0`,
      redisBackendUseSsl: { ca: tls.certificates!.ca, rejectUnauthorized: true },
    });
    backendOnly.logger = silentLogger();
    try {
      await backendOnly.getBackend();
    } finally {
      await backendOnly.close();
    }
  });

  it('presents a client certificate (ssl_certfile, ssl_keyfile) to a server that requires one', async () => {
    const certs = mutual.certificates!;
    const base = `rediss://127.0.0.1:${mutual.port}/0?ssl_cert_reqs=required&ssl_ca_certs=${encodeURIComponent(certs.ca)}`;
    const withClient = `${base}&ssl_certfile=${encodeURIComponent(certs.clientCert)}&ssl_keyfile=${encodeURIComponent(certs.clientKey)}`;
    expect(await roundTrip(withClient)).toBe(5);
    const app = new Celery('tls-no-client-cert', { broker: base, brokerConnectionMaxRetries: 0 });
    app.logger = silentLogger();
    await expect(app.getBroker()).rejects.toThrow(ConnectionError);
    expect(
      await roundTrip(
        `redis://127.0.0.1:${mutual.port}/0`,
        {},
        {
          brokerUseSsl: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
          redisBackendUseSsl: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
        },
      ),
    ).toBe(5);
  });

  it('finds the master through Sentinel with sentinel:// and master_name', async () => {
    expect(await roundTrip(`sentinel://127.0.0.1:${sentinel.port}/0`, { master_name: 'celeriac-test' })).toBe(
      5,
    );
  });

  it('names the missing master_name for a sentinel:// URL', async () => {
    const app = new Celery('no-master', { broker: `sentinel://127.0.0.1:${sentinel.port}` });
    await expect(app.getBroker()).rejects.toThrow(/master_name/);
  });
});
