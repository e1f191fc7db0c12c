/**
 * Connection loss (reliability battery B8, B9, B11): the broker reconnects by itself and resumes consuming, publish
 * fails with ConnectionError while Redis is away (so the app's retry policy applies), and a Redis that cannot be
 * reached at start-up fails with a clear error naming the URL. Destructive tests use a private redis-server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  deletePrefix,
  freePort,
  PrivateRedis,
  REDIS_URL,
  testClient,
  testPrefix,
} from '../../../test/support/redis.js';
import { startTcpProxy } from '../../../test/support/tcp-proxy.js';
import { ConnectionError } from '../../errors.js';
import { silentLogger } from '../../lifecycle/logger.js';
import { uuid } from '../../protocol/ids.js';
import { collector, labelOf, testMessage } from '../conformance/helpers.js';
import { RedisBroker } from './redis-broker.js';

const prefix = testPrefix('connection');
const clientName = `celeriac-conn-${uuid().slice(0, 8)}`;
const client = testClient();
const open: RedisBroker[] = [];
let privateRedis: PrivateRedis;

function broker(url: string, transportOptions: Record<string, unknown> = {}, maxRetries = 0): RedisBroker {
  const b = new RedisBroker(url, {
    logger: silentLogger(),
    transportOptions: { global_keyprefix: prefix, client_name: clientName, ...transportOptions },
    connectionRetry: maxRetries > 0,
    connectionMaxRetries: maxRetries,
    connectionTimeoutMs: 1000,
  });
  open.push(b);
  return b;
}

beforeAll(async () => {
  privateRedis = await PrivateRedis.start();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await privateRedis.stop();
  await deletePrefix(client, prefix);
  client.disconnect();
});

/** Publishes until it succeeds (the app's retry policy does this in real use). */
async function publishWhenBack(b: RedisBroker, label: string, queue: string): Promise<void> {
  await expect
    .poll(
      () =>
        b.publish(testMessage(label), { exchange: '', routingKey: queue }).then(
          () => true,
          () => false,
        ),
      { timeout: 15_000, interval: 100 },
    )
    .toBe(true);
}

describe('redis broker connection loss', () => {
  it('fails at start-up with an error naming the URL when Redis cannot be reached', async () => {
    const port = await freePort();
    const b = broker(`redis://:secret@127.0.0.1:${port}/0`, {}, 2);
    const error = await b.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toContain(`redis://:****@127.0.0.1:${port}/0`);
    expect((error as Error).message).toMatch(/gave up after 3 attempt\(s\)/);
    expect((error as Error).message).not.toContain('secret');
  });

  it('rejects publish with ConnectionError while Redis is down, and resumes consuming after a restart', async () => {
    const queue = `restart-${uuid().slice(0, 8)}`;
    const consumerSide = broker(privateRedis.url, { wait_timeout: 1 });
    const producer = broker(privateRedis.url);
    await consumerSide.connect();
    await producer.connect();
    const c = collector();
    await consumerSide.consume([{ name: queue }], c.handler, { prefetch: 10 });
    await producer.publish(testMessage('before'), { exchange: '', routingKey: queue });
    await consumerSide.ack(await c.waitFor(1));

    await privateRedis.kill();
    await expect
      .poll(() =>
        producer.publish(testMessage('during'), { exchange: '', routingKey: queue }).catch((e: unknown) => e),
      )
      .toBeInstanceOf(ConnectionError);
    await privateRedis.launch();

    await publishWhenBack(producer, 'after', queue);
    const [, after] = await c.waitFor(2, 20_000);
    expect(labelOf(after!)).toBe('after');
    await consumerSide.ack([after!]);
  });

  it('keeps consuming after its connections are killed three times in a row (CLIENT KILL)', async () => {
    const queue = `killed-${uuid().slice(0, 8)}`;
    const b = broker(REDIS_URL, { wait_timeout: 1 });
    await b.connect();
    const c = collector();
    await b.consume([{ name: queue }], c.handler, { prefetch: 10 });
    const ours = async (): Promise<string[]> =>
      String(await client.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(`name=${clientName}-`))
        .map((line) => /\bid=(\d+)/.exec(line)?.[1])
        .filter((id): id is string => id !== undefined);
    for (let round = 0; round < 3; round++) {
      // The main connection and one waiter per priority bucket, all (re)connected.
      await expect.poll(async () => (await ours()).length, { timeout: 10_000 }).toBe(5);
      for (const id of await ours()) await client.client('KILL', 'ID', id);
    }
    await publishWhenBack(b, 'after-kills', queue);
    const [delivery] = await c.waitFor(1, 20_000);
    expect(labelOf(delivery!)).toBe('after-kills');
    await b.ack([delivery!]);
  });

  it('notices a silent partition and resumes on new connections', async () => {
    const proxy = await startTcpProxy(privateRedis.port);
    try {
      const queue = `partition-${uuid().slice(0, 8)}`;
      const consumerSide = broker(`redis://127.0.0.1:${proxy.port}/0`, {
        wait_timeout: 1,
        socket_timeout: 2,
        health_check_interval: 1,
      });
      const producer = broker(privateRedis.url);
      await consumerSide.connect();
      await producer.connect();
      const c = collector();
      await consumerSide.consume([{ name: queue }], c.handler, { prefetch: 10 });
      proxy.drop();
      await producer.publish(testMessage('lost-in-the-void'), { exchange: '', routingKey: queue });
      // Heal: new connections pass again; the black-holed ones stay silent until the client gives up on them.
      proxy.pass();
      const [delivery] = await c.waitFor(1, 30_000);
      expect(labelOf(delivery!)).toBe('lost-in-the-void');
      await consumerSide.ack([delivery!]);
    } finally {
      await proxy.close();
    }
  });
});
