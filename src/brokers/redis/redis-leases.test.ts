/**
 * What only the Redis broker does with leases: renewal of held deliveries, kombu-compatible restore under
 * `unacked_mutex`, fencing of a stale holder, dead letters and give-backs.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { messageFixture } from '../../../test/golden/fixtures.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../../../test/support/redis.js';
import { silentLogger } from '../../lifecycle/logger.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import { uuid } from '../../protocol/ids.js';
import { collector, labelOf, testMessage } from '../conformance/helpers.js';
import { RedisBroker } from './redis-broker.js';
import { MUTEX_LEASE_SECONDS, Restorer } from './restorer.js';
import type { Delivery } from '../broker.js';

const prefix = testPrefix('leases');
const client = testClient();
const open: RedisBroker[] = [];
const UNACKED = `${prefix}unacked`;
const INDEX = `${prefix}unacked_index`;

async function connected(
  transportOptions: Record<string, unknown> = {},
  deadLetterMaxBytes?: number,
): Promise<RedisBroker> {
  const broker = new RedisBroker(REDIS_URL, {
    deadLetterMaxBytes,
    logger: silentLogger(),
    transportOptions: { global_keyprefix: prefix, ...transportOptions },
    connectionRetry: false,
    connectionMaxRetries: 0,
    connectionTimeoutMs: 1000,
  });
  await broker.connect();
  open.push(broker);
  return broker;
}

/** Stops a broker's lease keeper, as a frozen or partitioned process would stop renewing. */
function freezeLeases(broker: RedisBroker): void {
  const leases = (broker as unknown as { leases: { renewer?: NodeJS.Timeout } }).leases;
  clearInterval(leases.renewer);
}

async function score(tag: string): Promise<number> {
  return Number(await client.zscore(INDEX, tag));
}

function queue(name: string): { name: string } {
  return { name: `${name}-${uuid().slice(0, 8)}` };
}

/**
 * A delivery held by `stale`, whose lease keeper then stops, until its entry is older than the visibility timeout
 * and a `fresh` consumer gets it again (`again`). `onLost` is the stale consumer's.
 */
async function handedOver(name: string, label: string, onLost?: (deliveries: readonly Delivery[]) => void) {
  const stale = await connected({ visibility_timeout: 1 });
  const q = queue(name);
  await stale.publish(testMessage(label), { exchange: '', routingKey: q.name });
  const c = collector();
  await stale.consume([q], c.handler, { prefetch: 1, ...(onLost ? { onLost } : {}) });
  const [first] = await c.waitFor(1);
  freezeLeases(stale);
  await expect
    .poll(async () => (await score(first!.tag)) < Date.now() / 1000 - 1, { timeout: 10_000 })
    .toBe(true);
  const fresh = await connected({ visibility_timeout: 1 });
  const c2 = collector();
  await fresh.consume([q], c2.handler, { prefetch: 1 });
  const [again] = await c2.waitFor(1);
  return { stale, first: first!, fresh, again: again! };
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await deletePrefix(client, prefix);
  client.disconnect();
});

describe('redis broker leases', () => {
  it('renews every held delivery, so no restore takes it for abandoned', async () => {
    // 3 s, renewed every 750 ms: only a stall of over 2 s could let the restore below take it (at 1 s, 750 ms would).
    const holder = await connected({ visibility_timeout: 3 });
    const q = queue('renew');
    await holder.publish(testMessage('held'), { exchange: '', routingKey: q.name });
    const c = collector();
    await holder.consume([q], c.handler, { prefetch: 1 });
    const [delivery] = await c.waitFor(1);
    const fetchedAt = await score(delivery!.tag);
    // Held for longer than the visibility timeout, and renewed meanwhile.
    await expect
      .poll(() => score(delivery!.tag), { timeout: 20_000, interval: 100 })
      .toBeGreaterThan(fetchedAt + 4.5);
    const other = await connected({ visibility_timeout: 3 });
    expect(await other.restoreStale()).toBe(0);
    expect(await client.hexists(UNACKED, delivery!.tag)).toBe(1);
    await holder.ack([delivery!]);
    expect(await client.hexists(UNACKED, delivery!.tag)).toBe(0);
  });

  it('restores a delivery whose holder stopped renewing, and fences the stale holder', async () => {
    const { stale, first, fresh, again } = await handedOver('fence', 'orphan');
    expect(labelOf(again)).toBe('orphan');
    expect(again.redelivered).toBe(true);
    expect(again.message.headers.redelivered).toBe(true);
    expect(again.tag).toBe(first.tag);
    await stale.ack([first]); // fenced: the entry is the fresh holder's now
    expect(await client.hexists(UNACKED, again.tag)).toBe(1);
    await fresh.ack([again]);
    expect(await client.hexists(UNACKED, again.tag)).toBe(0);
  });

  it('tells the consumer when a held delivery was restored for another worker', async () => {
    const lost: string[] = [];
    const { stale, first } = await handedOver('lost', 'taken', (ds) => lost.push(...ds.map((d) => d.tag)));
    await stale.renewLeases();
    expect(lost).toEqual([first.tag]);
  });

  it('loses nothing when a queue key holds something else than a list', async () => {
    const broker = await connected();
    const [a, b] = [queue('typed'), queue('clash')];
    await client.set(`${prefix}${b.name}`, 'not a list');
    for (const label of ['one', 'two'])
      await broker.publish(testMessage(label), { exchange: '', routingKey: a.name });
    const c = collector();
    await broker.consume([a, b], c.handler, { prefetch: 10 });
    expect((await c.waitFor(2)).map(labelOf).sort()).toEqual(['one', 'two']);
    expect(await client.get(`${prefix}${b.name}`)).toBe('not a list');
    await client.del(`${prefix}${b.name}`);
  });

  it("restores entries written by kombu exactly as kombu's restore_visible does", async () => {
    const broker = await connected({ visibility_timeout: 5 });
    const raw = messageFixture('plain').messages[0]!.raw;
    const kombu = decodeEnvelope(raw);
    const q = queue('kombu');
    const tag = kombu.deliveryTag;
    await client.lpush(`${prefix}${q.name}`, 'already-waiting');
    await client.hset(UNACKED, tag, `[${raw}, "", "${q.name}"]`);
    await client.zadd(INDEX, Date.now() / 1000 - 60, tag);
    expect(await broker.restoreStale()).toBe(1);
    expect(await client.hexists(UNACKED, tag)).toBe(0);
    expect(await client.zscore(INDEX, tag)).toBeNull();
    // RPUSH: the restored message is the next one consumed (the tail of the list).
    const [tail] = await client.lrange(`${prefix}${q.name}`, -1, -1);
    const restored = JSON.parse(tail!) as {
      headers: Record<string, unknown>;
      properties: Record<string, unknown>;
    };
    expect(restored.headers.redelivered).toBe(true);
    expect(restored.properties.delivery_info).toEqual({
      exchange: '',
      routing_key: 'golden-default',
      redelivered: true,
    });
    expect(restored.headers.id).toBe(kombu.message.headers.id);
  });

  it('leaves the restore to whoever holds unacked_mutex', async () => {
    const broker = await connected({ visibility_timeout: 5 });
    const tag = uuid();
    const q = queue('mutex');
    await client.hset(
      UNACKED,
      tag,
      JSON.stringify([JSON.parse(messageFixture('plain').messages[0]!.raw), '', q.name]),
    );
    await client.zadd(INDEX, Date.now() / 1000 - 60, tag);
    await client.set(`${prefix}unacked_mutex`, 'a-python-worker', 'PX', 10_000, 'NX');
    expect(await broker.restoreStale()).toBe(0);
    expect(await client.hexists(UNACKED, tag)).toBe(1);
    expect(await client.get(`${prefix}unacked_mutex`)).toBe('a-python-worker');
    await client.del(`${prefix}unacked_mutex`);
    expect(await broker.restoreStale()).toBe(1);
    expect(await client.llen(`${prefix}${q.name}`)).toBe(1);
    expect(await client.exists(`${prefix}unacked_mutex`)).toBe(0);
  });

  it('dead-letters what is not an envelope and keeps consuming', async () => {
    const broker = await connected();
    const q = queue('poison');
    await client.lpush(`${prefix}${q.name}`, 'not json at all');
    await client.lpush(`${prefix}${q.name}`, '[1, 2, 3]');
    await broker.publish(testMessage('fine'), { exchange: '', routingKey: q.name });
    const c = collector();
    await broker.consume([q], c.handler, { prefetch: 10 });
    const [fine] = await c.waitFor(1);
    expect(labelOf(fine!)).toBe('fine');
    await broker.ack([fine!]);
    const dead = await broker.deadLetters(q.name);
    expect(dead.map((d) => d.reason).sort()).toEqual(['envelope-not-json', 'envelope-shape']);
    expect(dead.map((d) => d.envelope).sort()).toEqual(['[1, 2, 3]', 'not json at all']);
    expect(await client.hlen(UNACKED)).toBe(0);
  });

  it('keeps rejected messages in the dead letters with their reason', async () => {
    const broker = await connected();
    const q = queue('reject');
    await broker.publish(testMessage('bad'), { exchange: '', routingKey: q.name });
    const c = collector();
    await broker.consume([q], c.handler, { prefetch: 1 });
    const [bad] = await c.waitFor(1);
    await broker.reject(bad!, { requeue: false, reason: 'unknown-task' });
    const [entry] = await broker.deadLetters(q.name);
    expect(entry!.reason).toBe('unknown-task');
    expect(decodeEnvelope(entry!.envelope).message.headers.label).toBe('bad');
    expect(await client.hexists(UNACKED, bad!.tag)).toBe(0);
  });

  it('caps the dead letters in bytes as well as in count, oldest dropped first, the newest always kept', async () => {
    const broker = await connected({}, 60_000);
    const q = queue('dead-bytes');
    const big = (label: string) => ({ ...testMessage(label), body: Buffer.alloc(20_000, 0x61) });
    for (const label of ['d1', 'd2', 'd3', 'd4', 'd5']) {
      await broker.publish(big(label), { exchange: '', routingKey: q.name });
    }
    const c = collector();
    await broker.consume([q], c.handler, { prefetch: 10 });
    for (const delivery of await c.waitFor(5)) {
      await broker.reject(delivery, { requeue: false, reason: 'task-failed' });
    }
    const dead = await broker.deadLetters(q.name);
    // Each entry is about 27,000 bytes (the body in base64, the envelope): two fit under 60,000, three do not.
    expect(dead.map((d) => decodeEnvelope(d.envelope).message.headers.label)).toEqual(['d5', 'd4']);
    const key = broker.keys.deadLetterKey(q.name);
    const entries = await client.lrange(key, 0, -1);
    const bytes = entries.reduce((n, e) => n + Buffer.byteLength(e), 0);
    expect(Number(await client.get(broker.keys.deadLetterBytesKey(q.name)))).toBe(bytes);
    // One entry bigger than the cap is still kept (the newest), alone.
    const alone = await connected({}, 1_000);
    const q2 = queue('dead-bytes-alone');
    await alone.publish(big('d6'), { exchange: '', routingKey: q2.name });
    const c2 = collector();
    await alone.consume([q2], c2.handler, { prefetch: 1 });
    const [d6] = await c2.waitFor(1);
    await alone.reject(d6!, { requeue: false, reason: 'task-failed' });
    expect(
      (await alone.deadLetters(q2.name)).map((d) => decodeEnvelope(d.envelope).message.headers.label),
    ).toEqual(['d6']);
  });

  it('gives several held deliveries back in their order', async () => {
    const broker = await connected();
    const q = queue('order');
    for (const label of ['r1', 'r2', 'r3', 'r4']) {
      await broker.publish(testMessage(label), { exchange: '', routingKey: q.name });
    }
    const c = collector();
    const consumer = await broker.consume([q], c.handler, { prefetch: 3 });
    const held = await c.waitFor(3);
    await consumer.cancel();
    await broker.requeue(held);
    const c2 = collector();
    await broker.consume([q], c2.handler, { prefetch: 0 });
    const all = await c2.waitFor(4);
    expect(all.map(labelOf)).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(all.map((d) => d.redelivered)).toEqual([true, true, true, false]);
    await broker.ack(all);
  });

  it('gives a delivery with a priority back to its own bucket', async () => {
    const broker = await connected();
    const q = queue('prio-back');
    await broker.publish(testMessage('low', 9), { exchange: '', routingKey: q.name });
    const c = collector();
    const consumer = await broker.consume([q], c.handler, { prefetch: 1 });
    const [low] = await c.waitFor(1);
    await consumer.cancel();
    await broker.requeue([low!]);
    expect(await client.llen(`${prefix}${q.name}\x06\x169`)).toBe(1);
    expect(await client.llen(`${prefix}${q.name}`)).toBe(0);
  });

  it('holds unacked_mutex on a short lease, renewed while a long sweep runs, released after', async () => {
    const broker = await connected({ visibility_timeout: 5 });
    const tag = uuid();
    const q = queue('renew');
    await client.hset(
      UNACKED,
      tag,
      JSON.stringify([JSON.parse(messageFixture('plain').messages[0]!.raw), '', q.name]),
    );
    await client.zadd(INDEX, Date.now() / 1000 - 60, tag);
    // A sweep held up inside (its routing lookup waits), as a slow or huge sweep would be.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const internals = broker as unknown as { main: ConstructorParameters<typeof Restorer>[0] };
    const restorer = new Restorer(internals.main, broker.keys, broker.options, silentLogger(), async () => {
      await held;
      return [q.name];
    });
    const sweep = restorer.sweep();
    const mutex = `${prefix}unacked_mutex`;
    try {
      await expect.poll(() => client.pttl(mutex)).toBeGreaterThan(0);
      expect(await client.pttl(mutex)).toBeLessThanOrEqual(MUTEX_LEASE_SECONDS * 1000);
      // Renewed: between two readings the remaining lease goes up (without renewal it only goes down).
      let previous = await client.pttl(mutex);
      await expect
        .poll(
          async () => {
            const now = await client.pttl(mutex);
            const wentUp = now > previous;
            previous = now;
            return wentUp;
          },
          { timeout: MUTEX_LEASE_SECONDS * 1000, interval: 50 },
        )
        .toBe(true);
    } finally {
      release();
    }
    expect(await sweep).toBe(1);
    expect(await client.exists(mutex)).toBe(0);
  });

  it('releases unacked_mutex when closed during a restore sweep', async () => {
    for (let round = 0; round < 5; round++) {
      const broker = await connected();
      // consume() starts a sweep (under the mutex); close right away, while it runs.
      await broker.consume([queue('sweeping')], () => undefined, { prefetch: 1 });
      await broker.close();
      expect(await client.exists(`${prefix}unacked_mutex`)).toBe(0);
    }
  });
});
