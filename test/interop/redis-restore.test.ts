/**
 * Celeriac's leases against kombu's own restore (`QoS.restore_visible`, run by Python exactly as a starting Celery
 * worker runs it): a live Celeriac consumer's deliveries are never restored, an abandoned one is restored the kombu
 * way and runs again, and entries a Python worker abandoned are restored by Celeriac.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { collector, labelOf, testMessage } from '../../src/brokers/conformance/helpers.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { runPythonPlan, runPythonRestore, startPythonWorker } from '../support/python.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

const prefix = testPrefix('interop-restore');
const env = { INTEROP_BROKER: REDIS_URL, INTEROP_PREFIX: prefix, INTEROP_VT: '1' };
const redis = testClient();
const open: RedisBroker[] = [];

async function connected(visibilityTimeout = 1): Promise<RedisBroker> {
  const broker = new RedisBroker(REDIS_URL, {
    logger: silentLogger(),
    transportOptions: { global_keyprefix: prefix, visibility_timeout: visibilityTimeout },
    connectionRetry: false,
    connectionMaxRetries: 0,
    connectionTimeoutMs: 1000,
  });
  await broker.connect();
  open.push(broker);
  return broker;
}

async function score(tag: string): Promise<number> {
  return Number(await redis.zscore(`${prefix}unacked_index`, tag));
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

describe("Celeriac leases and kombu's restore", () => {
  it('kombu never restores a delivery a live Celeriac consumer holds past the visibility timeout', async () => {
    // 3 s on both sides, renewed every 750 ms: only a stall of over 2 s could let kombu take it (at 1 s, 750 ms would).
    const broker = await connected(3);
    const queue = `held-${uuid().slice(0, 8)}`;
    await broker.publish(testMessage('held'), { exchange: '', routingKey: queue });
    const c = collector();
    await broker.consume([{ name: queue }], c.handler, { prefetch: 1 });
    const [delivery] = await c.waitFor(1);
    const fetchedAt = await score(delivery!.tag);
    await expect
      .poll(() => score(delivery!.tag), { timeout: 20_000, interval: 100 })
      .toBeGreaterThan(fetchedAt + 4.5);
    const left = await runPythonRestore({ ...env, INTEROP_VT: '3' });
    expect(left.unacked).toContain(delivery!.tag);
    expect(await redis.llen(`${prefix}${queue}`)).toBe(0);
    await broker.ack([delivery!]);
  });

  it('kombu restores a delivery whose Celeriac holder stopped, and Celeriac runs it again', async () => {
    const stale = await connected();
    const queue = `stale-${uuid().slice(0, 8)}`;
    await stale.publish(testMessage('orphan'), { exchange: '', routingKey: queue });
    const c = collector();
    await stale.consume([{ name: queue }], c.handler, { prefetch: 1 });
    const [first] = await c.waitFor(1);
    // As if the process froze: its lease keeper stops, the delivery is neither acknowledged nor renewed.
    clearInterval((stale as unknown as { leases: { renewer?: NodeJS.Timeout } }).leases.renewer);
    await expect
      .poll(async () => (await score(first!.tag)) < Date.now() / 1000 - 1.2, { timeout: 10_000 })
      .toBe(true);
    const left = await runPythonRestore(env);
    expect(left.unacked).not.toContain(first!.tag);
    expect(await redis.llen(`${prefix}${queue}`)).toBe(1);
    const fresh = await connected();
    const c2 = collector();
    await fresh.consume([{ name: queue }], c2.handler, { prefetch: 1 });
    const [again] = await c2.waitFor(1);
    expect(labelOf(again!)).toBe('orphan');
    expect(again!.redelivered).toBe(true);
    await fresh.ack([again!]);
  });

  it('Celeriac restores what a killed Python worker held, and runs it', async () => {
    const queue = `py-held-${uuid().slice(0, 8)}`;
    const pyEnv = { ...env, INTEROP_QUEUE: queue, INTEROP_PREFETCH: '4' };
    const python = await startPythonWorker({ env: pyEnv, queues: [queue], name: `py-${uuid().slice(0, 6)}` });
    // A task with a countdown: the Python worker holds it unacknowledged until its ETA, far away.
    const { sent } = await runPythonPlan(
      { send: [{ ref: 'later', task: 'interop.add', args: [20, 22], options: { countdown: 3600 } }] },
      pyEnv,
    );
    await python.waitFor(/Task interop\.add\[.*\] received/);
    python.child.kill('SIGKILL');
    await python.stop();
    expect(await redis.hlen(`${prefix}unacked`)).toBe(1);
    const broker = await connected();
    await expect.poll(() => broker.restoreStale(), { timeout: 10_000, interval: 200 }).toBe(1);
    const c = collector();
    await broker.consume([{ name: queue }], c.handler, { prefetch: 1 });
    const [delivery] = await c.waitFor(1);
    expect(delivery!.message.headers.id).toBe(sent.later!.id);
    expect(delivery!.redelivered).toBe(true);
    await broker.ack([delivery!]);
  });
});
