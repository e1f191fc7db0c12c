import { afterAll, beforeAll } from 'vitest';
import { silentLogger } from '../../lifecycle/logger.js';
import { createVhost, type Vhost } from '../../../test/support/rabbitmq.js';
import { brokerConformance } from '../conformance/broker-suite.js';
import { createAmqpBroker } from './amqp-broker.js';

let vhost: Vhost;
beforeAll(async () => {
  vhost = await createVhost('conformance');
});
afterAll(async () => {
  await vhost.remove();
});

brokerConformance('amqp', {
  create: () =>
    createAmqpBroker(vhost.url, {
      logger: silentLogger(),
      transportOptions: {},
      connectionRetry: false,
      connectionMaxRetries: 0,
      connectionTimeoutMs: 4000,
    }),
});
