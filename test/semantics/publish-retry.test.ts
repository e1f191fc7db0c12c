/**
 * Publish retries (`taskPublishRetry`, `taskPublishRetryPolicy`, the `retry`/`retryPolicy` calling options) with a
 * broker that fails and then recovers: a real memory or SQLite broker behind a driver that refuses the first N
 * publishes with a connection error, as a broker restart would.
 */
import { expect, it } from 'vitest';
import type { Broker, BrokerContext, PublishOptions, Route } from '../../src/brokers/broker.js';
import { createMemoryBroker } from '../../src/brokers/memory/memory-broker.js';
import { registerBrokerDriver } from '../../src/brokers/registry.js';
import { createSqliteBroker } from '../../src/brokers/sqlite/sqlite-broker.js';
import { ConnectionError } from '../../src/errors.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { onEveryDriver } from './harness.js';

/** flaky://<key>: the real broker named by the plan, failing its next `failures` publishes. */
const plans = new Map<string, { inner: string; failures: number; attempts: number }>();

function flaky(inner: Broker, plan: { failures: number; attempts: number }): Broker {
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'publish') {
        return async (message: WireMessage, route: Route, options?: PublishOptions) => {
          plan.attempts++;
          if (plan.failures > 0) {
            plan.failures--;
            throw new ConnectionError('connection reset by peer (flaky test broker)');
          }
          return target.publish(message, route, options);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

registerBrokerDriver('flaky', async () => (url: string, context: BrokerContext) => {
  const plan = plans.get(url.slice('flaky://'.length));
  if (!plan) throw new Error(`no flaky plan for ${url}`);
  const inner = plan.inner.startsWith('sqlite:')
    ? createSqliteBroker(plan.inner, context)
    : createMemoryBroker(plan.inner, context);
  return flaky(inner, plan);
});

onEveryDriver('publish retry', ({ driver, makeApp, startWorker }) => {
  function flakyApp(failures: number, options: Parameters<typeof makeApp>[0] = {}) {
    const producer = makeApp(options);
    const key = `${driver}-${Math.random().toString(36).slice(2)}`;
    const plan = { inner: producer.conf.broker, failures, attempts: 0 };
    plans.set(key, plan);
    const app = makeApp({ ...options, broker: `flaky://${key}`, backend: producer.conf.backend });
    return { app, producer, plan };
  }

  it('retries a failed publish by the policy until the broker is back', async () => {
    const { app, producer, plan } = flakyApp(2, {
      taskPublishRetryPolicy: { maxRetries: 3, intervalStart: 0, intervalStep: 0.01, intervalMax: 0.05 },
    });
    const add = app.task('pub.add', (x: number, y: number) => x + y);
    producer.task('pub.add', (x: number, y: number) => x + y);
    await startWorker(producer);
    const result = await add.delay(1, 2);
    expect(plan.attempts).toBe(3);
    expect(await result.get({ timeout: 10 })).toBe(3);
  });

  it('gives up after maxRetries, and at once with retry: false', async () => {
    const { app, plan } = flakyApp(10, {
      taskPublishRetryPolicy: { maxRetries: 2, intervalStart: 0, intervalStep: 0.01, intervalMax: 0.05 },
    });
    const add = app.task('pub.add', (x: number, y: number) => x + y);
    await expect(add.delay(1, 2)).rejects.toBeInstanceOf(ConnectionError);
    expect(plan.attempts).toBe(3);
    plan.attempts = 0;
    await expect(add.applyAsync([1, 2], {}, { retry: false })).rejects.toThrow(/flaky test broker/);
    expect(plan.attempts).toBe(1);
    plan.attempts = 0;
    await expect(add.applyAsync([1, 2], {}, { retryPolicy: { maxRetries: 0 } })).rejects.toBeInstanceOf(
      ConnectionError,
    );
    expect(plan.attempts).toBe(1);
  });

  it('does not retry with taskPublishRetry off', async () => {
    const { app, plan } = flakyApp(1, { taskPublishRetry: false });
    const add = app.task('pub.add', (x: number, y: number) => x + y);
    await expect(add.delay(1, 2)).rejects.toBeInstanceOf(ConnectionError);
    expect(plan.attempts).toBe(1);
    const result = await add.delay(1, 2);
    expect(plan.attempts).toBe(2);
    expect(result.id).toBeTypeOf('string');
  });
});
