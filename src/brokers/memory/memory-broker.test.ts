import { silentLogger } from '../../lifecycle/logger.js';
import { uuid } from '../../protocol/ids.js';
import { brokerConformance } from '../conformance/broker-suite.js';
import { labelOf } from '../conformance/helpers.js';
import type { MemoryBroker } from './memory-broker.js';
import { createMemoryBroker, memoryCapabilities } from './memory-broker.js';

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
  capabilities: memoryCapabilities,
  deadLetters: async (broker, queue) =>
    (broker as MemoryBroker).deadLetters
      .filter((d) => d.queue === queue)
      .map((d) => ({ reason: d.reason, label: labelOf(d) })),
});
