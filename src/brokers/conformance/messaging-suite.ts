/**
 * The messaging seam: exchanges (direct, topic, fanout) declared and routed as kombu routes on each broker, queues
 * bound several times, queue TTL and expiry, and subscriptions (Celery's event receiver, pidbox mailbox and reply
 * queue): broadcast to every subscriber, routed by binding key, no acknowledgements, gone when cancelled.
 */
import { expect, it } from 'vitest';
import type { ExchangeSpec, QueueSpec, SubscriptionMessage, SubscriptionSpec } from '../broker.js';
import type { SuiteContext } from './context.js';
import { collector, labelOf, testMessage, type Collector } from './helpers.js';

function inbox(): Collector<SubscriptionMessage> {
  return collector<SubscriptionMessage>();
}

function labels(messages: readonly SubscriptionMessage[]): string[] {
  return messages.map(labelOf);
}

export function messagingConformance(ctx: SuiteContext): void {
  const { caps, connected, queue } = ctx;
  const subscribing = it.skipIf(ctx.options.subscriptions === false);

  it('routes through a direct exchange to bound queues only', async () => {
    const broker = await connected();
    const reader = await ctx.readerFor(broker);
    const exchange = ctx.unique('direct');
    const q1: QueueSpec = { name: `${exchange}-q1`, exchange, exchangeType: 'direct', routingKey: 'one' };
    const q2: QueueSpec = { name: `${exchange}-q2`, exchange, exchangeType: 'direct', routingKey: 'two' };
    await broker.declare([q1, q2]);
    await broker.publish(testMessage('to-one'), { exchange, routingKey: 'one' });
    const c = collector();
    await reader.consume([q1, q2], c.handler, { prefetch: 10 });
    const [d] = await c.waitFor(1);
    expect(d!.queue).toBe(q1.name);
    expect(d!.exchange).toBe(exchange);
    await reader.ack([d!]);
    expect(await broker.size(q2.name)).toBe(0);
  });

  it.skipIf(!caps.topic)('routes by topic patterns', async () => {
    const broker = await connected();
    const exchange = ctx.unique('topic');
    const all: QueueSpec = { name: `${exchange}-all`, exchange, exchangeType: 'topic', routingKey: 'task.#' };
    const one: QueueSpec = {
      name: `${exchange}-one`,
      exchange,
      exchangeType: 'topic',
      routingKey: 'task.*.done',
    };
    await broker.declare([all, one]);
    await broker.publish(testMessage('deep'), { exchange, routingKey: 'task.a.b' });
    await broker.publish(testMessage('done'), { exchange, routingKey: 'task.x.done' });
    expect(await broker.size(all.name)).toBe(2);
    expect(await broker.size(one.name)).toBe(1);
  });

  it.skipIf(!caps.fanout)('fans out to every queue bound to a fanout exchange', async () => {
    const broker = await connected();
    const reader = await ctx.readerFor(broker);
    const fan = ctx.unique('fan');
    const f1: QueueSpec = { name: `${fan}-1`, exchange: fan, exchangeType: 'fanout', routingKey: '' };
    const f2: QueueSpec = { name: `${fan}-2`, exchange: fan, exchangeType: 'fanout', routingKey: '' };
    await broker.declare([f1, f2]);
    const c = collector();
    await reader.consume([f1, f2], c.handler, { prefetch: 0 });
    await broker.publish(testMessage('everyone'), { exchange: fan, routingKey: 'ignored' });
    const got = await c.waitFor(2);
    expect(new Set(got.map((d) => d.queue))).toEqual(new Set([f1.name, f2.name]));
    await reader.ack(got);
  });

  it('routes through an exchange declared with declareExchange by its type, and refuses another type', async () => {
    const broker = await connected();
    const exchange: ExchangeSpec = { name: ctx.unique('declared'), type: 'direct', durable: false };
    await broker.declareExchange(exchange);
    await broker.declareExchange(exchange);
    // A queue spec naming the exchange without a type keeps the declared one.
    const bound: QueueSpec = { name: `${exchange.name}-q`, exchange: exchange.name, routingKey: 'k' };
    await broker.declare([bound]);
    await broker.publish(testMessage('hit'), { exchange: exchange.name, routingKey: 'k' });
    await broker.publish(testMessage('miss'), { exchange: exchange.name, routingKey: 'other' });
    expect(await broker.size(bound.name)).toBe(1);
    await expect(broker.declareExchange({ ...exchange, type: 'fanout' })).rejects.toThrow(exchange.name);
  });

  it.skipIf(!caps.topic)('routes a declared topic exchange by binding pattern, as events are', async () => {
    const broker = await connected();
    const exchange = ctx.unique('events');
    await broker.declareExchange({ name: exchange, type: 'topic' });
    const workers: QueueSpec = { name: `${exchange}-w`, exchange, routingKey: 'worker.#' };
    await broker.declare([workers]);
    await broker.publish(testMessage('beat'), { exchange, routingKey: 'worker.heartbeat' });
    await broker.publish(testMessage('task'), { exchange, routingKey: 'task.succeeded' });
    expect(await broker.size(workers.name)).toBe(1);
  });

  it.skipIf(!caps.fanout)(
    `keeps fanout messages in bound queues only where broadcast is 'queue' (${caps.broadcast} here)`,
    async () => {
      const broker = await connected();
      const exchange = ctx.unique('broadcast');
      await broker.declareExchange({ name: exchange, type: 'fanout', durable: false });
      const q: QueueSpec = { name: `${exchange}-q`, exchange, routingKey: '' };
      await broker.declare([q]);
      await broker.publish(testMessage('cast'), { exchange, routingKey: '' });
      expect(await broker.size(q.name)).toBe(caps.broadcast === 'queue' ? 1 : 0);
    },
  );

  it('binds one queue several times when declared with several keys', async () => {
    const broker = await connected();
    const exchange = ctx.unique('multi');
    const name = `${exchange}-q`;
    await broker.declare([
      { name, exchange, exchangeType: 'direct', routingKey: 'a' },
      { name, exchange, exchangeType: 'direct', routingKey: 'b' },
    ]);
    await broker.publish(testMessage('via-a'), { exchange, routingKey: 'a' });
    await broker.publish(testMessage('via-b'), { exchange, routingKey: 'b' });
    await broker.publish(testMessage('via-c'), { exchange, routingKey: 'c' });
    expect(await broker.size(name)).toBe(2);
  });

  it.skipIf(!caps.queueExpiry)('drops messages that waited longer than the queue message TTL', async () => {
    const broker = await connected();
    const reader = await ctx.readerFor(broker);
    const q: QueueSpec = { ...queue('ttl'), messageTtlMs: 300 };
    await broker.declare([q]);
    await broker.publish(testMessage('stale'), { exchange: '', routingKey: q.name });
    await expect.poll(() => broker.size(q.name), { timeout: 10_000, interval: 100 }).toBe(0);
    await broker.publish(testMessage('fresh'), { exchange: '', routingKey: q.name });
    const c = collector();
    await reader.consume([q], c.handler, { prefetch: 0 });
    const [fresh] = await c.waitFor(1);
    expect(labelOf(fresh!)).toBe('fresh');
    await reader.ack([fresh!]);
  });

  it.skipIf(!caps.queueExpiry)(
    'deletes a queue unused for longer than its expiry, with its binding',
    async () => {
      const broker = await connected();
      const exchange = ctx.unique('expiring');
      const q: QueueSpec = {
        name: `${exchange}-q`,
        exchange,
        exchangeType: 'direct',
        routingKey: 'k',
        expiresMs: 300,
      };
      await broker.declare([q]);
      await broker.publish(testMessage('left'), { exchange, routingKey: 'k' });
      // Polled more slowly than it expires: a check that counted as a use could not keep it alive.
      await expect.poll(() => broker.size(q.name), { timeout: 10_000, interval: 1_000 }).toBe(0);
      await broker.publish(testMessage('late'), { exchange, routingKey: 'k' });
      expect(await broker.size(q.name)).toBe(0);
    },
  );

  subscribing('broadcasts to every subscriber of a fanout exchange, intact, until cancelled', async () => {
    const broker = await connected();
    const publisher = await connected();
    const exchange: ExchangeSpec = { name: ctx.unique('pidbox'), type: 'fanout', durable: false };
    const spec = (node: string): SubscriptionSpec => ({
      queue: `${node}.${exchange.name}`,
      exchange,
      routingKey: '',
      messageTtlMs: 300_000,
      expiresMs: 10_000,
    });
    const [a, b] = [inbox(), inbox()];
    const subA = await broker.subscriptions!.subscribe(spec('a'), a.handler);
    await broker.subscriptions!.subscribe(spec('b'), b.handler);
    await publisher.declareExchange(exchange);
    const sent = testMessage('ping');
    await publisher.publish(sent, { exchange: exchange.name, routingKey: '' });
    const [[gotA], [gotB]] = await Promise.all([a.waitFor(1), b.waitFor(1)]);
    expect(gotA!.queue).toBe(spec('a').queue);
    expect(gotB!.queue).toBe(spec('b').queue);
    expect(gotA!.exchange).toBe(exchange.name);
    expect(gotA!.message.headers).toEqual(sent.headers);
    expect(gotA!.message.body.equals(sent.body)).toBe(true);
    await subA.cancel();
    await subA.cancel();
    await publisher.publish(testMessage('after'), { exchange: exchange.name, routingKey: '' });
    await b.waitFor(2);
    expect(labels(a.received)).toEqual(['ping']);
    expect(labels(b.received)).toEqual(['ping', 'after']);
  });

  subscribing('routes event-like subscriptions by binding key on the exchange events use here', async () => {
    const broker = await connected();
    const publisher = await connected();
    // Celery's `get_exchange`: a topic exchange, or a fanout one where broadcasts are pub/sub (Redis).
    const exchange: ExchangeSpec = {
      name: ctx.unique('celeryev'),
      type: caps.broadcast === 'pubsub' ? 'fanout' : 'topic',
    };
    const limits = { messageTtlMs: 5_000, expiresMs: 60_000 };
    const [all, workers] = [inbox(), inbox()];
    const q = ctx.unique('ev');
    await broker.subscriptions!.subscribe(
      { queue: `${q}.all`, exchange, routingKey: '#', ...limits },
      all.handler,
    );
    await broker.subscriptions!.subscribe(
      { queue: `${q}.w`, exchange, routingKey: 'worker.#', ...limits },
      workers.handler,
    );
    await publisher.declareExchange(exchange);
    await publisher.publish(testMessage('succeeded'), {
      exchange: exchange.name,
      routingKey: 'task.succeeded',
    });
    await publisher.publish(testMessage('heartbeat'), {
      exchange: exchange.name,
      routingKey: 'worker.heartbeat',
    });
    await all.waitFor(2);
    const [beat] = await workers.waitFor(1);
    expect(labels(all.received)).toEqual(['succeeded', 'heartbeat']);
    expect(beat!.routingKey).toBe('worker.heartbeat');
    expect(labels(workers.received)).toEqual(['heartbeat']);
  });

  subscribing('receives replies by routing key on a reply queue that goes when cancelled', async () => {
    const broker = await connected();
    const replier = await connected();
    const exchange: ExchangeSpec = { name: ctx.unique('reply'), type: 'direct', durable: false };
    const reply = (oid: string): SubscriptionSpec => ({
      queue: `${oid}.${exchange.name}`,
      exchange,
      routingKey: oid,
      messageTtlMs: 300_000,
      expiresMs: 10_000,
    });
    const [mine, theirs] = [inbox(), inbox()];
    const sub = await broker.subscriptions!.subscribe(reply('oid-1'), mine.handler);
    await broker.subscriptions!.subscribe(reply('oid-2'), theirs.handler);
    await replier.declareExchange(exchange);
    await replier.publish(testMessage('for-2'), { exchange: exchange.name, routingKey: 'oid-2' });
    await replier.publish(testMessage('for-1'), { exchange: exchange.name, routingKey: 'oid-1' });
    const [got] = await mine.waitFor(1);
    await theirs.waitFor(1);
    expect(got!.routingKey).toBe('oid-1');
    expect(labels(mine.received)).toEqual(['for-1']);
    await sub.cancel();
    // A reply to a client that is gone is dropped, not kept (and not an error).
    await replier.publish(testMessage('late'), { exchange: exchange.name, routingKey: 'oid-1' });
    await expect.poll(() => replier.size(reply('oid-1').queue), { timeout: 5_000 }).toBe(0);
  });

  subscribing('keeps a subscription going after its handler throws, and ends it on close', async () => {
    const broker = await connected();
    const publisher = await connected();
    const exchange: ExchangeSpec = { name: ctx.unique('throwing'), type: 'fanout', durable: false };
    const box = inbox();
    const spec: SubscriptionSpec = { queue: `${exchange.name}.q`, exchange, routingKey: '' };
    await broker.subscriptions!.subscribe(spec, (m) => {
      box.handler(m);
      throw new Error('handler bug');
    });
    await publisher.declareExchange(exchange);
    await publisher.publish(testMessage('one'), { exchange: exchange.name, routingKey: '' });
    await publisher.publish(testMessage('two'), { exchange: exchange.name, routingKey: '' });
    await box.waitFor(2);
    await broker.close();
    await publisher.publish(testMessage('after-close'), { exchange: exchange.name, routingKey: '' });
    await expect.poll(() => publisher.size(spec.queue), { timeout: 5_000 }).toBe(0);
  });

  it.skipIf(ctx.options.subscriptions === false || !caps.queueExpiry)(
    'keeps a live subscription past its queue expiry',
    async () => {
      const broker = await connected();
      const publisher = await connected();
      const exchange: ExchangeSpec = { name: ctx.unique('alive'), type: 'direct', durable: false };
      const box = inbox();
      const spec: SubscriptionSpec = {
        queue: `${exchange.name}.q`,
        exchange,
        routingKey: 'k',
        expiresMs: 300,
      };
      await broker.subscriptions!.subscribe(spec, box.handler);
      // An unused queue with the same expiry going away shows that the expiry has passed.
      const probe: QueueSpec = {
        name: `${exchange.name}.probe`,
        exchange: exchange.name,
        routingKey: 'p',
        expiresMs: 300,
      };
      await publisher.declareExchange(exchange);
      await publisher.declare([probe]);
      await publisher.publish(testMessage('probe'), { exchange: exchange.name, routingKey: 'p' });
      await expect.poll(() => publisher.size(probe.name), { timeout: 10_000, interval: 1_000 }).toBe(0);
      await publisher.publish(testMessage('still-here'), { exchange: exchange.name, routingKey: 'k' });
      const [got] = await box.waitFor(1);
      expect(labels([got!])).toEqual(['still-here']);
    },
  );

  it.skipIf(ctx.options.subscriptions === false || !ctx.options.dropConnections)(
    'brings subscriptions back by themselves after the connection drops',
    async () => {
      const broker = await connected();
      const publisher = await connected();
      const fanout: ExchangeSpec = { name: ctx.unique('mailbox'), type: 'fanout', durable: false };
      const direct: ExchangeSpec = { name: ctx.unique('replies'), type: 'direct', durable: false };
      const [casts, replies] = [inbox(), inbox()];
      await broker.subscriptions!.subscribe(
        { queue: `${fanout.name}.q`, exchange: fanout, routingKey: '' },
        casts.handler,
      );
      await broker.subscriptions!.subscribe(
        { queue: `${direct.name}.q`, exchange: direct, routingKey: 'oid' },
        replies.handler,
      );
      await publisher.declareExchange(fanout);
      await publisher.declareExchange(direct);
      await ctx.options.dropConnections!(broker);
      // Messages published while the subscriber reconnects may be missed (pub/sub keeps nothing): send until one
      // arrives on each.
      const sendUntil = async (box: Collector<SubscriptionMessage>, exchange: string, key: string) => {
        try {
          await publisher.publish(testMessage('again'), { exchange, routingKey: key });
        } catch {
          // The publisher may be reconnecting too.
        }
        return box.received.length;
      };
      await expect
        .poll(() => sendUntil(casts, fanout.name, ''), { timeout: 20_000, interval: 250 })
        .toBeGreaterThan(0);
      await expect
        .poll(() => sendUntil(replies, direct.name, 'oid'), { timeout: 20_000, interval: 250 })
        .toBeGreaterThan(0);
    },
  );
}
