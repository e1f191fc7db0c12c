/**
 * `rediss://` (TLS, verified against a CA by default) and `sentinel://` (master found through a Sentinel), for the
 * broker and the result backend, against private redis-servers started by the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, ConnectionError, Worker } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { PrivateRedis } from '../support/redis.js';

let tls: PrivateRedis;
let master: PrivateRedis;
let sentinel: PrivateRedis;

beforeAll(async () => {
  [tls, master] = await Promise.all([PrivateRedis.start({ tls: true }), PrivateRedis.start()]);
  sentinel = await PrivateRedis.start({ sentinelOf: master.port });
});
afterAll(async () => {
  await Promise.all([tls?.stop(), sentinel?.stop(), master?.stop()]);
});

/** Sends add(2, 3) through a worker on `url` (broker and backend) and returns the result. */
async function roundTrip(url: string, transportOptions: Record<string, unknown> = {}): Promise<number> {
  const options = {
    broker: url,
    backend: url,
    brokerTransportOptions: transportOptions,
    resultBackendTransportOptions: transportOptions,
    brokerConnectionMaxRetries: 1,
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
    return await result.get({ timeout: 10_000 });
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
