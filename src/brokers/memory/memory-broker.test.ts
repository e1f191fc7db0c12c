import { silentLogger } from '../../lifecycle/logger.js';
import { uuid } from '../../protocol/ids.js';
import { brokerConformance } from '../conformance/broker-suite.js';
import { createMemoryBroker } from './memory-broker.js';

const space = `memory://conformance-${uuid()}`;
brokerConformance('memory', {
  create: () =>
    createMemoryBroker(space, {
      logger: silentLogger(),
      transportOptions: {},
      connectionRetry: false,
      connectionMaxRetries: 0,
      connectionTimeoutMs: 1000,
    }),
});
