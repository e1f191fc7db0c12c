/**
 * Subscriptions and fanout publishing on Redis in kombu 5.2's exact layout, as `redis-cli monitor` shows it for
 * Celery 5.2.6 (`celery events`, a worker's pidbox, `celery inspect`'s reply queue): the binding member, the
 * pub/sub channel names, the reply list, and what cancel removes. Checked with a raw client on the other side.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { deletePrefix, REDIS_DB, REDIS_URL, testClient, testPrefix } from '../../../test/support/redis.js';
import { createLogger } from '../../lifecycle/logger.js';
import { encodeEnvelope } from '../../protocol/envelope.js';
import type { ExchangeSpec, SubscriptionMessage } from '../broker.js';
import { collector, labelOf, testMessage } from '../conformance/helpers.js';
import { RedisBroker } from './redis-broker.js';

const prefix = testPrefix('subscriptions');
const SEP = '\x06\x16';
const client = testClient();
const open: RedisBroker[] = [];
const lines: { level: number; msg: string }[] = [];

async function connected(): Promise<RedisBroker> {
  const logger = createLogger({
    level: 'debug',
    format: 'json',
    destination: { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
  });
  const broker = new RedisBroker(REDIS_URL, {
    logger,
    transportOptions: { global_keyprefix: prefix },
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
  lines.length = 0;
});
afterAll(() => client.disconnect());

const pidbox: ExchangeSpec = { name: 'celery.pidbox', type: 'fanout', durable: false };
const reply: ExchangeSpec = { name: 'reply.celery.pidbox', type: 'direct', durable: false };
const celeryev: ExchangeSpec = { name: 'celeryev', type: 'fanout', durable: true };

function envelope(label: string, exchange: string, routingKey: string): string {
  return encodeEnvelope(testMessage(label), { exchange, routingKey, deliveryTag: 'tag' });
}

describe('redis subscriptions, in kombu layout', () => {
  it("binds a mailbox as kombu does and receives PUBLISH on '/<db>.celery.pidbox'", async () => {
    const broker = await connected();
    const box = collector<SubscriptionMessage>();
    const sub = await broker.subscriptions.subscribe(
      { queue: 'w1@host.celery.pidbox', exchange: pidbox, routingKey: '' },
      box.handler,
    );
    expect(await client.smembers(`${prefix}_kombu.binding.celery.pidbox`)).toEqual([
      `${SEP}${SEP}w1@host.celery.pidbox`,
    ]);
    await client.publish(`${prefix}/${REDIS_DB}.celery.pidbox`, envelope('ping', 'celery.pidbox', ''));
    const [got] = await box.waitFor(1);
    expect(labelOf(got!)).toBe('ping');
    expect(got!.exchange).toBe('celery.pidbox');
    await sub.cancel();
    expect(await client.exists(`${prefix}_kombu.binding.celery.pidbox`)).toBe(0);
  });

  it("publishes events with PUBLISH on '/<db>.celeryev/<routing key>', storing nothing", async () => {
    const broker = await connected();
    const raw = new Redis(REDIS_URL);
    try {
      const seen: string[] = [];
      raw.on('pmessage', (_pattern: string, channel: string) => seen.push(channel));
      await raw.psubscribe(`${prefix}/${REDIS_DB}.celeryev/*`);
      // A receiver that was killed left its binding behind: it must not get a list.
      await client.sadd(`${prefix}_kombu.binding.celeryev`, `#${SEP}${SEP}celeryev.dead`);
      await broker.declareExchange(celeryev);
      await broker.publish(testMessage('event'), { exchange: 'celeryev', routingKey: 'task.succeeded' });
      await expect.poll(() => seen).toEqual([`${prefix}/${REDIS_DB}.celeryev/task.succeeded`]);
      expect(await client.exists(`${prefix}celeryev.dead`)).toBe(0);
    } finally {
      raw.disconnect();
    }
  });

  it('reads a reply queue from its list without unacked bookkeeping, and deletes it on cancel', async () => {
    const broker = await connected();
    const queue = 'oid-1.reply.celery.pidbox';
    const box = collector<SubscriptionMessage>();
    const sub = await broker.subscriptions.subscribe(
      { queue, exchange: reply, routingKey: 'oid-1' },
      box.handler,
    );
    expect(await client.smembers(`${prefix}_kombu.binding.reply.celery.pidbox`)).toEqual([
      `oid-1${SEP}${SEP}${queue}`,
    ]);
    // What a Python worker's reply does: SMEMBERS the binding, LPUSH the queue.
    await client.lpush(`${prefix}${queue}`, envelope('pong', 'reply.celery.pidbox', 'oid-1'));
    const [got] = await box.waitFor(1);
    expect(labelOf(got!)).toBe('pong');
    expect(await client.exists(`${prefix}unacked`)).toBe(0);
    await sub.cancel();
    expect(await client.exists(`${prefix}_kombu.binding.reply.celery.pidbox`)).toBe(0);
    // A reply to a client that has gone is dropped quietly, as kombu drops it.
    await broker.declareExchange(reply);
    await broker.publish(testMessage('late'), { exchange: reply.name, routingKey: 'oid-1' });
    expect(await client.exists(`${prefix}${queue}`)).toBe(0);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});
