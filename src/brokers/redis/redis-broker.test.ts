import { afterAll } from 'vitest';
import { createLogger, silentLogger } from '../../lifecycle/logger.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import {
  deletePrefix,
  PrivateRedis,
  REDIS_URL,
  testClient,
  testPrefix,
} from '../../../test/support/redis.js';
import { brokerConformance } from '../conformance/broker-suite.js';
import { labelOf } from '../conformance/helpers.js';
import type { RedisBroker } from './redis-broker.js';
import { createRedisBroker, redisCapabilities } from './redis-broker.js';

const prefix = testPrefix('broker-conformance');
/** CLIENT SETNAME prefix of this file's connections, so a test can find (and kill) them. */
const clientName = `conformance-${prefix.split(':')[2]}`;
const client = testClient();
afterAll(async () => {
  await deletePrefix(client, prefix);
  client.disconnect();
});

const context = (transportOptions: Record<string, unknown>) => ({
  logger: process.env.DBG ? createLogger({ level: 'debug' }) : silentLogger(),
  transportOptions,
  connectionRetry: false,
  connectionMaxRetries: 0,
  connectionTimeoutMs: 1000,
});

brokerConformance('redis', {
  create: () => createRedisBroker(REDIS_URL, context({ global_keyprefix: prefix, client_name: clientName })),
  capabilities: redisCapabilities,
  // The broker's leases look abandoned (scored long ago, as when its process stopped): a restore gives the
  // messages back to their queues, and the broker, renewing, learns it lost them.
  loseDeliveries: async (broker) => {
    const index = `${prefix}unacked_index`;
    const tags = await client.zrange(index, 0, -1);
    if (tags.length > 0) await client.zadd(index, ...tags.flatMap((tag) => [0, tag]));
    await (broker as RedisBroker).restoreStale();
    await (broker as RedisBroker).renewLeases();
  },
  // Kills this file's subscription connections (`<client name>-subscriber-...`, `-subscription:<queue>-...`).
  dropConnections: async () => {
    const clients = String(await client.client('LIST'));
    const ids = clients
      .split('\n')
      .filter((line) => line.includes(`name=${clientName}-subscri`))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1])
      .filter((id): id is string => id !== undefined);
    if (ids.length < 2)
      throw new Error(`expected the subscriber and a reader connection, found:\n${clients}`);
    for (const id of ids) await client.client('KILL', 'ID', id);
  },
  restartable: async () => {
    const server = await PrivateRedis.start();
    return {
      create: () => createRedisBroker(server.url, context({})),
      restart: async () => {
        await server.kill();
        await server.launch();
      },
      stop: () => server.stop(),
    };
  },
  connection: { url: REDIS_URL, transportOptions: { global_keyprefix: prefix } },
  deadLetters: async (broker, queue) =>
    (await (broker as RedisBroker).deadLetters(queue)).map((d) => ({
      reason: d.reason,
      label: labelOf(decodeEnvelope(d.envelope)),
    })),
});
