/** Remote control with Python Celery 5.2.6 on RabbitMQ (interop-suite.ts), in a vhost of its own. */
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { createVhost, type Vhost } from '../support/rabbitmq.js';
import { PrivateRedis } from '../support/redis.js';
import { controlInteropSuite, type InteropTarget } from './interop-suite.js';

const PYTHON_AMQP_DIR = fileURLToPath(new URL('../interop/python-amqp/', import.meta.url));

let vhost: Vhost | undefined;
let redis: PrivateRedis | undefined;
let target: Promise<InteropTarget> | undefined;

function setup(): Promise<InteropTarget> {
  target ??= Promise.all([createVhost('control'), PrivateRedis.start()]).then(([v, r]) => {
    vhost = v;
    redis = r;
    return { broker: v.url, backend: r.url, pythonDir: PYTHON_AMQP_DIR };
  });
  return target;
}

afterAll(async () => {
  await vhost?.remove();
  await redis?.stop();
});

controlInteropSuite('RabbitMQ', setup);
