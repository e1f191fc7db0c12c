import { REDIS_URL } from '../support/redis.js';
import { canvasSuite } from './canvas-suite.js';

// Redis broker and backend: every test has its own queue, and results live under their own task ids.
canvasSuite({ name: 'redis', urls: () => ({ broker: REDIS_URL, backend: REDIS_URL }) });
