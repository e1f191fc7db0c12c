import { silentLogger } from '../../lifecycle/logger.js';
import { uuid } from '../../protocol/ids.js';
import { backendConformance } from '../conformance/backend-suite.js';
import { createMemoryBackend } from './memory-backend.js';

const url = `memory://backend-conformance-${uuid()}`;
backendConformance('memory', {
  create: ({ resultExpires }) =>
    createMemoryBackend(url, { logger: silentLogger(), resultExpires, transportOptions: {} }),
  lacks: { persistence: true },
});
