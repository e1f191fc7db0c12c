/**
 * Remote control with Python Celery 5.2.6 on Redis (interop-suite.ts). A redis-server of its own: kombu 5.2
 * PUBLISHes pidbox requests on channels without the key prefix, so they are shared by everything on a server.
 */
import { afterAll } from 'vitest';
import { PYTHON_DIR } from '../support/python.js';
import { PrivateRedis } from '../support/redis.js';
import { controlInteropSuite, type InteropTarget } from './interop-suite.js';

let server: PrivateRedis | undefined;
let target: Promise<InteropTarget> | undefined;

function setup(): Promise<InteropTarget> {
  target ??= PrivateRedis.start().then((started) => {
    server = started;
    return {
      broker: started.url,
      backend: started.url,
      pythonDir: PYTHON_DIR,
      tsEnv: { INTEROP_VT: '5' },
    };
  });
  return target;
}

afterAll(async () => {
  await server?.stop();
});

controlInteropSuite('Redis', setup);
