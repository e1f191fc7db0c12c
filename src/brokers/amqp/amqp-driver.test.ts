/**
 * What only the AMQP driver does: Python interop of headers and declarations, basic.qos as Celery sets it,
 * multiple-ack batching, and recovery from connections closed by the server. Runs in a vhost of its own.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lifecycle/logger.js';
import { uuid } from '../../protocol/ids.js';
import { createVhost, rabbitmqctl, type Vhost } from '../../../test/support/rabbitmq.js';
import type { Delivery, QueueSpec } from '../broker.js';
import { collector, testMessage } from '../conformance/helpers.js';
import { AmqpBroker } from './amqp-broker.js';
import type { AmqpDelivery } from './consumer.js';

const run = promisify(execFile);
let vhost: Vhost;
const open: AmqpBroker[] = [];

beforeAll(async () => {
  vhost = await createVhost('driver');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await vhost.remove();
});

async function broker(transportOptions: Record<string, unknown> = {}): Promise<AmqpBroker> {
  const b = new AmqpBroker(vhost.url, {
    logger: silentLogger(),
    transportOptions,
    connectionRetry: false,
    connectionMaxRetries: 0,
    connectionTimeoutMs: 4000,
  });
  await b.connect();
  open.push(b);
  return b;
}

/** Runs Python (Celery 5.2.6's kombu and py-amqp) against the test vhost. */
async function python(script: string): Promise<string> {
  const { stdout } = await run('/usr/bin/python3', ['-c', script], {
    env: { ...process.env, AMQP_URL: vhost.url },
  });
  return stdout;
}

const KOMBU = 'import os, kombu\nconn = kombu.Connection(os.environ["AMQP_URL"])\n';

describe('amqp driver', () => {
  it('reads headers py-amqp writes, 64-bit integers included, without losing the connection', async () => {
    const b = await broker();
    const q: QueueSpec = { name: `py-headers-${uuid().slice(0, 8)}` };
    await b.declare([q]);
    await python(
      `${KOMBU}producer = conn.Producer()\n` +
        `producer.publish(b'[[], {}, {}]', routing_key='${q.name}', content_type='application/json', ` +
        `content_encoding='utf-8', headers={'task': 't', 'id': 'x', 'ts': 1700000000000, 'neg': -3, ` +
        `'none': None, 'list': [1, None]}, priority=3, correlation_id='x', reply_to='r', expiration=60)\n`,
    );
    const c = collector();
    await b.consume([q], c.handler, { prefetch: 1 });
    const [d] = await c.waitFor(1);
    expect(d!.message.headers).toEqual({
      task: 't',
      id: 'x',
      ts: 1700000000000,
      neg: -3,
      none: null,
      list: [1, null],
    });
    expect(d!.message.properties).toMatchObject({
      correlation_id: 'x',
      reply_to: 'r',
      priority: 3,
      delivery_mode: 2,
      expiration: '60000',
    });
    await b.ack([d!]);
  });

  it('declares queues as kombu does, so either side may declare first (x-max-priority included)', async () => {
    const b = await broker();
    const first = `kombu-first-${uuid().slice(0, 8)}`;
    const second = `ours-first-${uuid().slice(0, 8)}`;
    const declare = (name: string): string =>
      `kombu.Queue('${name}', kombu.Exchange('${name}', type='direct'), routing_key='${name}', ` +
      `queue_arguments={'x-max-priority': 10})(conn.default_channel).declare()\n`;
    await python(KOMBU + declare(first));
    await b.declare([
      { name: first, maxPriority: 10 },
      { name: second, maxPriority: 10 },
    ]);
    await python(KOMBU + declare(second));
    // And a different setting is refused with an error that names the queue and the fix.
    await expect(b.declare([{ name: first, maxPriority: 5 }])).rejects.toThrow(
      new RegExp(`"${first}".*taskQueueMaxPriority`),
    );
  });

  it('sets basic.qos globally on the channel, as Celery does on RabbitMQ >= 3.3, and updates it', async () => {
    const b = await broker();
    const q: QueueSpec = { name: `qos-${uuid().slice(0, 8)}` };
    const consumer = await b.consume([q], () => undefined, { prefetch: 7 });
    const channels = async (): Promise<string> =>
      rabbitmqctl([
        'list_channels',
        '--no-table-headers',
        'vhost',
        'prefetch_count',
        'global_prefetch_count',
      ]);
    await expect.poll(channels).toMatch(new RegExp(`${vhost.name}\\s+0\\s+7`));
    consumer.setPrefetch(9);
    await expect.poll(channels).toMatch(new RegExp(`${vhost.name}\\s+0\\s+9`));
  });

  it('consumes a quorum queue (declared through QueueSpec.arguments) with a per-consumer prefetch', async () => {
    const b = await broker();
    const q: QueueSpec = { name: `quorum-${uuid().slice(0, 8)}`, arguments: { 'x-queue-type': 'quorum' } };
    await b.declare([q]);
    await b.publish(testMessage('replicated'), { exchange: '', routingKey: q.name });
    const c = collector();
    await b.consume([q], c.handler, { prefetch: 4 });
    const [d] = await c.waitFor(1);
    await b.ack([d!]);
    const channels = await rabbitmqctl([
      'list_channels',
      '--no-table-headers',
      'vhost',
      'prefetch_count',
      'global_prefetch_count',
    ]);
    expect(channels).toMatch(new RegExp(`${vhost.name}\\s+4\\s+0`));
    await expect(b.declare([{ name: q.name }])).rejects.toThrow(/x-queue-type/);
  });

  it('acknowledges a contiguous batch with one multiple ack, and the rest one by one', async () => {
    const b = await broker();
    const q: QueueSpec = { name: `acks-${uuid().slice(0, 8)}` };
    await b.declare([q]);
    for (let i = 0; i < 10; i++) await b.publish(testMessage(`a${i}`), { exchange: '', routingKey: q.name });
    const c = collector();
    await b.consume([q], c.handler, { prefetch: 0 });
    const all = await c.waitFor(10);
    const channel = (all[0] as AmqpDelivery).link.channel;
    const calls: [number, boolean][] = [];
    const ack = channel.ack.bind(channel);
    channel.ack = (message, allUpTo) => {
      calls.push([message.fields.deliveryTag, allUpTo ?? false]);
      ack(message, allUpTo);
    };
    const tag = (d: Delivery): number => (d as AmqpDelivery).deliveryTag;
    // 0..5 are the head of the unsettled set: one multiple ack. 8 is not contiguous with them: its own ack.
    await b.ack([all[3]!, all[0]!, all[1]!, all[2]!, all[4]!, all[5]!, all[8]!]);
    expect(calls).toEqual([
      [tag(all[5]!), true],
      [tag(all[8]!), false],
    ]);
    calls.length = 0;
    await b.ack([all[6]!, all[7]!, all[9]!, all[0]!]);
    expect(calls).toEqual([[tag(all[9]!), true]]);
    expect(await b.size(q.name)).toBe(0);
  });

  it('recovers from connections closed by the server: lost deliveries reported, redelivered, consuming again', async () => {
    const b = await broker();
    const q: QueueSpec = { name: `recover-${uuid().slice(0, 8)}` };
    await b.declare([q]);
    for (let i = 0; i < 3; i++) await b.publish(testMessage(`r${i}`), { exchange: '', routingKey: q.name });
    const c = collector();
    const lost: Delivery[] = [];
    await b.consume([q], c.handler, { prefetch: 3, onLost: (ds) => lost.push(...ds) });
    const held = await c.waitFor(3);
    await rabbitmqctl(['close_all_connections', '--vhost', vhost.name, 'celeriac test: connection reset']);
    await expect.poll(() => lost.length).toBe(3);
    // Acknowledging deliveries of the dead channel must not touch the new one (no PRECONDITION_FAILED there).
    await b.ack(held);
    const again = await c.waitFor(6, 20_000);
    expect(again.slice(3).every((d) => d.redelivered)).toBe(true);
    await b.ack(again.slice(3));
    await b.publish(testMessage('after'), { exchange: '', routingKey: q.name });
    const [, , , , , , after] = await c.waitFor(7);
    await b.ack([after!]);
    expect(await b.size(q.name)).toBe(0);
  });
});
