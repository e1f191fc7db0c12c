import { afterAll, beforeAll } from 'vitest';
import { silentLogger } from '../../lifecycle/logger.js';
import { createVhost, rabbitmqctl, startPrivateNode, type Vhost } from '../../../test/support/rabbitmq.js';
import { brokerConformance } from '../conformance/broker-suite.js';
import { amqpCapabilities, createAmqpBroker } from './amqp-broker.js';

let vhost: Vhost;
beforeAll(async () => {
  vhost = await createVhost('conformance');
});
afterAll(async () => {
  await vhost.remove();
});

const context = {
  logger: silentLogger(),
  transportOptions: {},
  connectionRetry: false,
  connectionMaxRetries: 0,
  connectionTimeoutMs: 4000,
};

brokerConformance('amqp', {
  create: () => createAmqpBroker(vhost.url, context),
  capabilities: amqpCapabilities,
  deferral: true,
  // RabbitMQ drops the broker's connection (as a network failure would): its channels close with their
  // unacknowledged deliveries, which RabbitMQ delivers again.
  loseDeliveries: async () => {
    await rabbitmqctl(['close_all_connections', '-p', vhost.name, 'conformance: consumer lost']);
  },
  dropConnections: async () => {
    await rabbitmqctl(['close_all_connections', '-p', vhost.name, 'conformance: connection dropped']);
  },
  restartable: async () => {
    const node = await startPrivateNode('conformance');
    return {
      create: () => createAmqpBroker(node.url, context),
      restart: async () => {
        await node.ctl(['stop_app']);
        await node.ctl(['start_app']);
      },
      stop: () => node.stop(),
    };
  },
  get connection() {
    return { url: vhost.url };
  },
});
