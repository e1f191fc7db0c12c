import { afterAll } from 'vitest';
import { silentLogger } from '../../lifecycle/logger.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../../../test/support/redis.js';
import { brokerConformance } from '../conformance/broker-suite.js';
import { createRedisBroker } from './redis-broker.js';

const prefix = testPrefix('broker-conformance');
afterAll(async () => {
  const client = testClient();
  await deletePrefix(client, prefix);
  client.disconnect();
});

brokerConformance('redis', {
  create: () =>
    createRedisBroker(REDIS_URL, {
      logger: silentLogger(),
      transportOptions: { global_keyprefix: prefix },
      connectionRetry: false,
      connectionMaxRetries: 0,
      connectionTimeoutMs: 1000,
    }),
});
