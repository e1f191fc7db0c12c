/**
 * TLS to RabbitMQ: a private node (one for the whole file: it is slow to start) with a TLS listener and
 * certificates made by openssl. `amqps://` with `brokerUseSsl` verified against the CA runs tasks with rpc://
 * results over the same TLS; `brokerUseSsl` turns TLS on for an `amqp://` URL too; Celery's `broker_use_ssl` keys
 * present a client certificate the server sees; a wrong CA is refused with a message naming the fix; and
 * `rejectUnauthorized: false` (ssl_cert_reqs none) connects without a CA.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, ConnectionError, Worker, type CeleryOptions } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { makeOtherCa } from '../support/certificates.js';
import { startPrivateNode, type PrivateNode } from '../support/rabbitmq.js';

let node: PrivateNode;

beforeAll(async () => {
  node = await startPrivateNode('tls', { tls: true });
}, 120_000);
afterAll(async () => {
  await node?.stop();
});

function app(name: string, options: CeleryOptions): Celery {
  const out = new Celery(name, { brokerConnectionMaxRetries: 0, ...options });
  out.logger = silentLogger();
  return out;
}

/** add(2, 3) through a worker, both apps configured with `options`; the result comes back by rpc://. */
async function roundTrip(options: CeleryOptions): Promise<number> {
  const queue = `tls-${uuid().slice(0, 8)}`;
  const workerApp = app('tls-worker', { backend: 'rpc://', ...options });
  workerApp.task('tls.add', (x: number, y: number) => x + y);
  const worker = new Worker(workerApp, { queues: [queue], logger: silentLogger() });
  const client = app('tls-client', { backend: 'rpc://', ...options });
  try {
    await worker.start();
    const result = await client.sendTask<number>('tls.add', [2, 3], {}, { queue });
    return await result.get({ timeout: 15 });
  } finally {
    await worker.stop();
    await Promise.all([client.close(), workerApp.close()]);
  }
}

describe('TLS to RabbitMQ', () => {
  it('runs tasks over amqps:// verified against the CA, with rpc:// results over the same TLS', async () => {
    const certs = node.certificates!;
    expect(
      await roundTrip({ broker: node.tlsUrl!, brokerUseSsl: { ca: certs.ca, rejectUnauthorized: true } }),
    ).toBe(5);
  });

  it('turns TLS on for an amqp:// URL with brokerUseSsl, and presents a client certificate (Celery keys)', async () => {
    const certs = node.certificates!;
    const client = new Celery('tls-celery-keys').configFromObject({
      broker_url: `amqp://guest:guest@127.0.0.1:${node.tlsPort!}//`,
      broker_connection_max_retries: 0,
      broker_use_ssl: {
        ca_certs: certs.ca,
        certfile: certs.clientCert,
        keyfile: certs.clientKey,
        cert_reqs: 'CERT_REQUIRED',
      },
    });
    client.logger = silentLogger();
    try {
      await client.getBroker();
      const connections = await node.ctl([
        'list_connections',
        '--no-table-headers',
        'ssl',
        'peer_cert_subject',
      ]);
      expect(connections).toMatch(/true\s+CN=celeriac-test-client/);
    } finally {
      await client.close();
    }
  });

  it('refuses a server certificate signed by another CA, naming the fix', async () => {
    const other = makeOtherCa(`${node.certificates!.dir}/other`);
    const client = app('tls-wrong-ca', { broker: node.tlsUrl!, brokerUseSsl: { ca: other } });
    const error = await client.getBroker().catch((e: unknown) => e);
    await client.close();
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/Cannot connect to amqps:\/\/guest:\*\*@127\.0\.0\.1:\d+\/\//);
    expect((error as Error).message).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|unable to verify/i);
    expect((error as Error).message).toMatch(/not signed by a CA this client trusts; give that CA/);
  });

  it('connects without verification when asked (ssl_cert_reqs none / rejectUnauthorized false)', async () => {
    expect(await roundTrip({ broker: node.tlsUrl!, brokerUseSsl: { ssl_cert_reqs: 'none' } })).toBe(5);
  });
});
