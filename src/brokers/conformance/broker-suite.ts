/**
 * The broker contract, written once and run against every driver (river's riverdrivertest, in spirit).
 * A guarantee is added here first, then to the drivers. Each test uses its own queue names, so suites for several
 * drivers (and several files) run in parallel on shared servers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { uuid } from '../../protocol/ids.js';
import type { Broker, QueueSpec } from '../broker.js';
import { collector, labelOf, testMessage } from './helpers.js';

export interface BrokerSuiteOptions {
  /** Creates a new, unconnected broker. Brokers created by one suite run share one server or namespace. */
  create(): Promise<Broker> | Broker;
  /** Time the driver needs to notice a delayed message is due, on top of its delay (ms). */
  delaySlackMs?: number;
}

export function brokerConformance(driver: string, options: BrokerSuiteOptions): void {
  describe(`broker conformance: ${driver}`, () => {
    const open: Broker[] = [];

    async function connected(): Promise<Broker> {
      const broker = await options.create();
      await broker.connect();
      open.push(broker);
      return broker;
    }

    function queue(name: string): QueueSpec {
      return { name: `conf-${driver}-${name}-${uuid().slice(0, 8)}` };
    }

    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });

    it('delivers a published message with its headers, properties and body intact', async () => {
      const broker = await connected();
      const q = queue('roundtrip');
      await broker.declare([q]);
      const sent = testMessage('a');
      await broker.publish(sent, { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 10 });
      const [delivery] = await c.waitFor(1);
      expect(delivery!.message.headers).toEqual(sent.headers);
      expect(delivery!.message.properties).toMatchObject(sent.properties);
      expect(delivery!.message.contentType).toBe('application/json');
      expect(delivery!.message.contentEncoding).toBe('utf-8');
      expect(delivery!.message.body.equals(sent.body)).toBe(true);
      expect(delivery!.queue).toBe(q.name);
      expect(delivery!.redelivered).toBe(false);
      expect(delivery!.routingKey).toBe(q.name);
      await broker.ack([delivery!]);
    });

    it('keeps FIFO order within a queue and priority', async () => {
      const broker = await connected();
      const q = queue('fifo');
      await broker.declare([q]);
      for (let i = 0; i < 20; i++)
        await broker.publish(testMessage(`m${i}`), { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 0 });
      const got = await c.waitFor(20);
      expect(got.map(labelOf)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      await broker.ack(got);
    });

    it('publishes a batch with publishMany (when the driver has it) in order, across queues and exchanges', async () => {
      const broker = await connected();
      if (!broker.publishMany) return;
      const a = queue('many-a');
      const b = queue('many-b');
      const exchange = `conf-${driver}-many-${uuid().slice(0, 8)}`;
      const bound: QueueSpec = { name: `${exchange}-q`, exchange, exchangeType: 'direct', routingKey: 'k' };
      await broker.declare([a, b, bound]);
      const items = Array.from({ length: 30 }, (_, i) => ({
        message: testMessage(`m${i}`, i % 10 === 9 ? 9 : undefined),
        route:
          i % 3 === 2
            ? { exchange, routingKey: 'k' }
            : { exchange: '', routingKey: i % 3 === 0 ? a.name : b.name },
      }));
      await broker.publishMany(items);
      await broker.publishMany([]);
      const expected = (pick: (i: number) => boolean): string[] =>
        items.flatMap((_, i) => (pick(i) ? [`m${i}`] : []));
      for (const [q, pick] of [
        [a, (i: number) => i % 3 === 0],
        [b, (i: number) => i % 3 === 1],
        [bound, (i: number) => i % 3 === 2],
      ] as const) {
        const c = collector();
        const consumer = await broker.consume([q], c.handler, { prefetch: 0 });
        const got = await c.waitFor(10);
        expect(got.map(labelOf).sort()).toEqual(expected(pick).sort());
        // Within one priority, the order of the batch.
        const plain = got.filter((d) => (d.message.properties.priority ?? 0) !== 9).map(labelOf);
        expect(plain).toEqual(expected((i) => pick(i) && i % 10 !== 9));
        await broker.ack(got);
        await consumer.cancel();
      }
    });

    it('holds at most `prefetch` unsettled deliveries, and more once some are acknowledged', async () => {
      const broker = await connected();
      const q = queue('prefetch');
      await broker.declare([q]);
      for (let i = 0; i < 5; i++)
        await broker.publish(testMessage(`p${i}`), { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 2 });
      const first = await c.waitFor(2);
      // Another delivery can only arrive after an ack; wait for it to prove the limit held until then.
      expect(c.received.length).toBe(2);
      await broker.ack([first[0]!]);
      await c.waitFor(3);
      expect(c.received.length).toBe(3);
      expect(await broker.size(q.name)).toBe(2);
      await broker.ack(c.received.slice(1, 3));
      await c.waitFor(5);
      await broker.ack(c.received.slice(3));
    });

    it('raises the limit with setPrefetch', async () => {
      const broker = await connected();
      const q = queue('setprefetch');
      await broker.declare([q]);
      for (let i = 0; i < 3; i++)
        await broker.publish(testMessage(`s${i}`), { exchange: '', routingKey: q.name });
      const c = collector();
      const consumer = await broker.consume([q], c.handler, { prefetch: 1 });
      await c.waitFor(1);
      consumer.setPrefetch(3);
      const all = await c.waitFor(3);
      await broker.ack(all);
    });

    it('does not deliver an acknowledged message again', async () => {
      const broker = await connected();
      const q = queue('ack');
      await broker.declare([q]);
      await broker.publish(testMessage('acked'), { exchange: '', routingKey: q.name });
      await broker.publish(testMessage('after'), { exchange: '', routingKey: q.name });
      const c = collector();
      const consumer = await broker.consume([q], c.handler, { prefetch: 1 });
      const [first] = await c.waitFor(1);
      await consumer.cancel();
      await broker.ack([first!]);
      await broker.close();
      const again = await connected();
      const c2 = collector();
      await again.consume([q], c2.handler, { prefetch: 10 });
      const [next] = await c2.waitFor(1);
      expect(labelOf(next!)).toBe('after');
      await again.ack([next!]);
      expect(await again.size(q.name)).toBe(0);
    });

    it('gives unsettled deliveries back when the broker is closed', async () => {
      const broker = await connected();
      const q = queue('close');
      await broker.declare([q]);
      await broker.publish(testMessage('held'), { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 10 });
      await c.waitFor(1);
      await broker.close();
      const again = await connected();
      const c2 = collector();
      await again.consume([q], c2.handler, { prefetch: 10 });
      const [back] = await c2.waitFor(1);
      expect(labelOf(back!)).toBe('held');
      expect(back!.redelivered).toBe(true);
      await again.ack([back!]);
    });

    it('requeues rejected messages when asked, and drops (or dead-letters) them otherwise', async () => {
      const broker = await connected();
      const q = queue('reject');
      await broker.declare([q]);
      await broker.publish(testMessage('again'), { exchange: '', routingKey: q.name });
      await broker.publish(testMessage('gone'), { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 10 });
      const [again, gone] = await c.waitFor(2);
      await broker.reject(gone!, { requeue: false, reason: 'conformance-test' });
      await broker.reject(again!, { requeue: true });
      const [, , redelivered] = await c.waitFor(3);
      expect(labelOf(redelivered!)).toBe('again');
      expect(redelivered!.redelivered).toBe(true);
      await broker.ack([redelivered!]);
      expect(await broker.size(q.name)).toBe(0);
    });

    it('delivers requeued messages before the rest of the queue', async () => {
      const broker = await connected();
      const q = queue('requeue');
      await broker.declare([q]);
      for (const label of ['r1', 'r2', 'r3'])
        await broker.publish(testMessage(label), { exchange: '', routingKey: q.name });
      const c = collector();
      const consumer = await broker.consume([q], c.handler, { prefetch: 1 });
      const [first] = await c.waitFor(1);
      await consumer.cancel();
      await broker.requeue([first!]);
      const c2 = collector();
      await broker.consume([q], c2.handler, { prefetch: 0 });
      const all = await c2.waitFor(3);
      expect(all.map(labelOf)).toEqual(['r1', 'r2', 'r3']);
      expect(all[0]!.redelivered).toBe(true);
      await broker.ack(all);
    });

    it('purges ready messages and reports queue sizes', async () => {
      const broker = await connected();
      const q = queue('purge');
      await broker.declare([q]);
      for (let i = 0; i < 7; i++)
        await broker.publish(testMessage(`x${i}`), { exchange: '', routingKey: q.name });
      expect(await broker.size(q.name)).toBe(7);
      expect(await broker.purge(q.name)).toBe(7);
      expect(await broker.size(q.name)).toBe(0);
    });

    it('delivers each message to exactly one of several competing consumers', async () => {
      const a = await connected();
      const b = await connected();
      const q = queue('compete');
      await a.declare([q]);
      const n = 60;
      for (let i = 0; i < n; i++) await a.publish(testMessage(`c${i}`), { exchange: '', routingKey: q.name });
      const seen: string[] = [];
      let count = 0;
      let done!: () => void;
      const all = new Promise<void>((resolve) => (done = resolve));
      for (const broker of [a, b]) {
        await broker.consume(
          [q],
          (delivery) => {
            seen.push(labelOf(delivery));
            void broker.ack([delivery]).then(() => {
              if (++count === n) done();
            });
          },
          { prefetch: 4 },
        );
      }
      await all;
      expect(new Set(seen).size).toBe(n);
      expect(seen.length).toBe(n);
    });

    it('keeps consuming after a handler throws', async () => {
      const broker = await connected();
      const q = queue('throw');
      await broker.declare([q]);
      await broker.publish(testMessage('boom'), { exchange: '', routingKey: q.name });
      await broker.publish(testMessage('fine'), { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume(
        [q],
        (delivery) => {
          c.handler(delivery);
          if (labelOf(delivery) === 'boom') throw new Error('handler bug');
        },
        { prefetch: 10 },
      );
      const both = await c.waitFor(2);
      await broker.ack(both);
    });

    it('routes through a direct exchange to bound queues only', async () => {
      const broker = await connected();
      const exchange = `conf-${driver}-direct-${uuid().slice(0, 8)}`;
      const q1: QueueSpec = { name: `${exchange}-q1`, exchange, exchangeType: 'direct', routingKey: 'one' };
      const q2: QueueSpec = { name: `${exchange}-q2`, exchange, exchangeType: 'direct', routingKey: 'two' };
      await broker.declare([q1, q2]);
      await broker.publish(testMessage('to-one'), { exchange, routingKey: 'one' });
      const c = collector();
      await broker.consume([q1, q2], c.handler, { prefetch: 10 });
      const [d] = await c.waitFor(1);
      expect(d!.queue).toBe(q1.name);
      expect(d!.exchange).toBe(exchange);
      await broker.ack([d!]);
      expect(await broker.size(q2.name)).toBe(0);
    });

    it('honours delayed delivery when the driver has it', async () => {
      const broker = await connected();
      if (!broker.capabilities.delayedDelivery) return;
      const q = queue('delayed');
      await broker.declare([q]);
      const notBefore = Date.now() + 400;
      await broker.publish(testMessage('later'), { exchange: '', routingKey: q.name }, { notBefore });
      await broker.publish(testMessage('now'), { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 10 });
      const [first] = await c.waitFor(1);
      expect(labelOf(first!)).toBe('now');
      const [, second] = await c.waitFor(2, 5_000 + (options.delaySlackMs ?? 0));
      expect(labelOf(second!)).toBe('later');
      expect(Date.now()).toBeGreaterThanOrEqual(notBefore);
      await broker.ack([first!, second!]);
    });

    it('defers a delivery to its ETA and settles the original, when the driver can', async () => {
      const broker = await connected();
      if (!broker.defer) return;
      expect(broker.deferAfterMs).toBeGreaterThanOrEqual(0);
      const q = queue('defer');
      await broker.declare([q]);
      const sent = testMessage('later');
      await broker.publish(sent, { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 10 });
      const [first] = await c.waitFor(1);
      const eta = Date.now() + 2_500;
      await broker.defer(first!, eta);
      expect(await broker.size(q.name)).toBe(0);
      const [, again] = await c.waitFor(2, 10_000);
      // Back within a second before the ETA (the worker holds it for the rest), with the same message.
      expect(Date.now()).toBeGreaterThanOrEqual(eta - 1_000);
      expect(again!.message.headers).toMatchObject(sent.headers);
      expect(again!.message.body.equals(sent.body)).toBe(true);
      await broker.ack([again!]);
      await broker.ack([first!]); // already settled by defer: a no-op
      expect(await broker.size(q.name)).toBe(0);
    });

    it('orders by priority as its capability says', async () => {
      const broker = await connected();
      const mode = broker.capabilities.priority;
      if (mode === 'none') return;
      const q: QueueSpec = { ...queue('priority'), maxPriority: 10 };
      await broker.declare([q]);
      for (const p of [0, 3, 6, 9])
        await broker.publish(testMessage(`p${p}`, p), { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 0 });
      const got = (await c.waitFor(4)).map(labelOf);
      expect(got).toEqual(mode === 'native' ? ['p9', 'p6', 'p3', 'p0'] : ['p0', 'p3', 'p6', 'p9']);
      await broker.ack(c.received);
    });

    it('routes by topic patterns and fans out when the driver has them', async () => {
      const broker = await connected();
      const exchange = `conf-${driver}-topic-${uuid().slice(0, 8)}`;
      if (broker.capabilities.topic) {
        const all: QueueSpec = {
          name: `${exchange}-all`,
          exchange,
          exchangeType: 'topic',
          routingKey: 'task.#',
        };
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
      }
      if (broker.capabilities.fanout) {
        const fan = `${exchange}-fan`;
        const f1: QueueSpec = { name: `${fan}-1`, exchange: fan, exchangeType: 'fanout', routingKey: '' };
        const f2: QueueSpec = { name: `${fan}-2`, exchange: fan, exchangeType: 'fanout', routingKey: '' };
        const c = collector();
        await broker.consume([f1, f2], c.handler, { prefetch: 0 });
        await broker.publish(testMessage('everyone'), { exchange: fan, routingKey: 'ignored' });
        const got = await c.waitFor(2);
        expect(new Set(got.map((d) => d.queue))).toEqual(new Set([f1.name, f2.name]));
        await broker.ack(got);
      }
    });
  });
}
