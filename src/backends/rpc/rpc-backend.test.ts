import { afterAll, beforeAll } from 'vitest';
import { silentLogger } from '../../lifecycle/logger.js';
import { createVhost, type Vhost } from '../../../test/support/rabbitmq.js';
import { backendConformance } from '../conformance/backend-suite.js';
import { createRpcBackend } from './rpc-backend.js';

let vhost: Vhost;
beforeAll(async () => {
  vhost = await createVhost('rpc-conformance');
});
afterAll(async () => {
  await vhost.remove();
});

// rpc results live in the client's reply queue: one backend reads what it stored for itself (no request context).
backendConformance('rpc', {
  create: ({ resultExpires }) =>
    createRpcBackend('rpc://', {
      logger: silentLogger(),
      resultExpires,
      transportOptions: {},
      brokerUrl: vhost.url,
    }),
  lacks: { groups: true, persistence: true, chords: true },
});
