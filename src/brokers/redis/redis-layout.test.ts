/**
 * The Redis broker writes and reads kombu 5.2's exact layout: checked against the list elements real Celery 5.2.6
 * pushed (test/golden/fixtures), key by key.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { messageFixtures } from '../../../test/golden/fixtures.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../../../test/support/redis.js';
import { silentLogger } from '../../lifecycle/logger.js';
import { decodeEnvelope } from '../../protocol/envelope.js';
import { collector, labelOf, testMessage } from '../conformance/helpers.js';
import { RedisBroker } from './redis-broker.js';

const prefix = testPrefix('layout');
const SEP = '\x06\x16';
const client = testClient();
const open: RedisBroker[] = [];

async function connected(transportOptions: Record<string, unknown> = {}): Promise<RedisBroker> {
  const broker = new RedisBroker(REDIS_URL, {
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

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  await deletePrefix(client, prefix);
});
afterAll(() => client.disconnect());

describe('kombu layout, against messages captured from Celery 5.2.6', () => {
  const cases = messageFixtures.flatMap((fixture) =>
    fixture.messages.map((message, i) => ({ name: `${fixture.name}#${i}`, ...message })),
  );

  it.each(cases)('$name: publishes to the same list, in the same envelope', async ({ key, raw }) => {
    const broker = await connected();
    const kombu = decodeEnvelope(raw);
    await broker.publish(kombu.message, { exchange: kombu.exchange, routingKey: kombu.routingKey });
    const [ours] = await client.lrange(prefix + key, 0, -1);
    expect(ours).toBeDefined();
    const mine = JSON.parse(ours!) as Record<string, Record<string, unknown>>;
    const theirs = JSON.parse(raw) as Record<string, Record<string, unknown>>;
    expect(Object.keys(mine).sort()).toEqual(Object.keys(theirs).sort());
    expect(mine.headers).toEqual(theirs.headers);
    expect(mine.body).toEqual(theirs.body);
    expect({ ...mine.properties, delivery_tag: 'x' }).toEqual({ ...theirs.properties, delivery_tag: 'x' });
    expect(mine.properties!.delivery_tag).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each(cases)('$name: a fetch records exactly what kombu records in unacked', async ({ key, raw }) => {
    const broker = await connected();
    const kombu = decodeEnvelope(raw);
    const queue = key.split(SEP)[0]!;
    await client.lpush(prefix + key, raw);
    const c = collector();
    await broker.consume([{ name: queue }], c.handler, { prefetch: 10 });
    const [delivery] = await c.waitFor(1);
    expect(delivery!.tag).toBe(kombu.deliveryTag);
    expect(delivery!.queue).toBe(queue);
    // kombu's QoS.append: HSET unacked <tag> json.dumps([message._raw, exchange, routing_key]).
    const expected = `[${raw}, ${JSON.stringify(kombu.exchange)}, ${JSON.stringify(kombu.routingKey)}]`;
    expect(await client.hget(`${prefix}unacked`, kombu.deliveryTag)).toBe(expected);
    const score = Number(await client.zscore(`${prefix}unacked_index`, kombu.deliveryTag));
    expect(Math.abs(score - Date.now() / 1000)).toBeLessThan(60);
    await broker.ack([delivery!]);
    expect(await client.hexists(`${prefix}unacked`, kombu.deliveryTag)).toBe(0);
    expect(await client.zscore(`${prefix}unacked_index`, kombu.deliveryTag)).toBeNull();
  });
});

describe('redis broker layout', () => {
  it('declares bindings in _kombu.binding.<exchange> as kombu does', async () => {
    const broker = await connected();
    await broker.declare([
      { name: 'celery', exchange: 'celery', exchangeType: 'direct', routingKey: 'celery' },
      { name: 'events', exchange: 'ev', exchangeType: 'topic', routingKey: 'task.#' },
    ]);
    expect(await client.smembers(`${prefix}_kombu.binding.celery`)).toEqual([`celery${SEP}${SEP}celery`]);
    expect(await client.smembers(`${prefix}_kombu.binding.ev`)).toEqual([`task.#${SEP}${SEP}events`]);
  });

  it('puts each priority in its kombu bucket: 0-2 in the bare list, then 3, 6 and 9', async () => {
    const broker = await connected();
    const queue = 'buckets';
    for (const priority of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, -1]) {
      await broker.publish(testMessage(`p${priority}`, priority), { exchange: '', routingKey: queue });
    }
    const lengths = await Promise.all(
      [queue, `${queue}${SEP}3`, `${queue}${SEP}6`, `${queue}${SEP}9`].map((k) => client.llen(prefix + k)),
    );
    expect(lengths).toEqual([4, 3, 3, 2]);
    expect(await broker.size(queue)).toBe(12);
    const c = collector();
    await broker.consume([{ name: queue }], c.handler, { prefetch: 0 });
    const labels = (await c.waitFor(12)).map(labelOf);
    expect(labels).toEqual(['p0', 'p1', 'p2', 'p-1', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9', 'p12']);
    await broker.ack(c.received);
  });

  it('consumes several queues round-robin, as kombu rotates its BRPOP keys', async () => {
    const broker = await connected();
    for (const q of ['rr-a', 'rr-b']) {
      for (let i = 0; i < 3; i++)
        await broker.publish(testMessage(`${q}${i}`), { exchange: '', routingKey: q });
    }
    const c = collector();
    await broker.consume([{ name: 'rr-a' }, { name: 'rr-b' }], c.handler, { prefetch: 0 });
    const got = await c.waitFor(6);
    expect(got.map((d) => d.queue)).toEqual(['rr-a', 'rr-b', 'rr-a', 'rr-b', 'rr-a', 'rr-b']);
    await broker.ack(got);
  });

  it('consumes in alphabetical order with queue_order_strategy "sorted"', async () => {
    const broker = await connected({ queue_order_strategy: 'sorted' });
    for (const q of ['so-b', 'so-a']) {
      for (let i = 0; i < 2; i++)
        await broker.publish(testMessage(`${q}${i}`), { exchange: '', routingKey: q });
    }
    const c = collector();
    await broker.consume([{ name: 'so-b' }, { name: 'so-a' }], c.handler, { prefetch: 0 });
    expect((await c.waitFor(4)).map((d) => d.queue)).toEqual(['so-a', 'so-a', 'so-b', 'so-b']);
    await broker.ack(c.received);
  });

  it('publishes fanout messages on /<db>.<exchange> and receives what kombu publishes there', async () => {
    const broker = await connected();
    const db = Number(new URL(REDIS_URL).pathname.slice(1) || '0');
    const queue = { name: 'fan-q', exchange: 'fan', exchangeType: 'fanout' as const, routingKey: '' };
    const c = collector();
    await broker.consume([queue], c.handler, { prefetch: 0 });
    const subscriber = testClient();
    await subscriber.psubscribe(`${prefix}/${db}.fan*`);
    const seen = new Promise<string>((resolve) =>
      subscriber.on('pmessage', (_p, channel: string) => resolve(channel)),
    );
    await broker.publish(testMessage('ours'), { exchange: 'fan', routingKey: '' });
    expect(await seen).toBe(`${prefix}/${db}.fan`);
    // kombu's _put_fanout with a routing key (fanout_patterns): PUBLISH /<db>.<exchange>/<routing key>.
    const python = JSON.stringify({
      body: Buffer.from('[[], {}, {}]').toString('base64'),
      'content-encoding': 'utf-8',
      'content-type': 'application/json',
      headers: { label: 'kombu' },
      properties: {
        delivery_info: { exchange: 'fan', routing_key: 'any' },
        body_encoding: 'base64',
        delivery_tag: 't',
      },
    });
    await client.publish(`${prefix}/${db}.fan/any`, python);
    const got = await c.waitFor(2);
    expect(got.map(labelOf)).toEqual(['ours', 'kombu']);
    expect(got.every((d) => d.queue === 'fan-q')).toBe(true);
    await broker.ack(got);
    subscriber.disconnect();
  });

  it('reads delivery info that needs JSON unescaping (the slow path of the fetch script)', async () => {
    const broker = await connected();
    const queue = 'q-\u00e9"x';
    const raw = JSON.stringify({
      body: Buffer.from('[[], {}, {}]').toString('base64'),
      'content-encoding': 'utf-8',
      'content-type': 'application/json',
      headers: { label: 'escaped', properties: 'a header named like the envelope key' },
      properties: {
        delivery_info: { exchange: '', routing_key: queue },
        body_encoding: 'base64',
        delivery_tag: 'tag-\\-1',
      },
    }).replace('\u00e9', '\\u00e9');
    await client.lpush(prefix + queue, raw);
    const c = collector();
    await broker.consume([{ name: queue }], c.handler, { prefetch: 1 });
    const [delivery] = await c.waitFor(1);
    expect(delivery!.tag).toBe('tag-\\-1');
    expect(delivery!.routingKey).toBe(queue);
    const entry = JSON.parse((await client.hget(`${prefix}unacked`, 'tag-\\-1'))!) as [
      unknown,
      string,
      string,
    ];
    expect(entry.slice(1)).toEqual(['', queue]);
    await broker.ack([delivery!]);
  });

  it('keeps every key under global_keyprefix', async () => {
    const broker = await connected();
    await broker.declare([{ name: 'pfx' }]);
    await broker.publish(testMessage('x'), { exchange: '', routingKey: 'pfx' });
    const c = collector();
    await broker.consume([{ name: 'pfx' }], c.handler, { prefetch: 1 });
    await c.waitFor(1);
    const keys = await client.keys(`*${prefix.split(':')[2]}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.startsWith(prefix))).toBe(true);
    expect(keys).toEqual(
      expect.arrayContaining([`${prefix}_kombu.binding.pfx`, `${prefix}unacked`, `${prefix}unacked_index`]),
    );
  });
});
