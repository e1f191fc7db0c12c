/**
 * The broker contract, written once and run against every driver (river's riverdrivertest, in spirit).
 * A guarantee is added here first, then to the drivers. Each test uses its own queue names, so suites for several
 * drivers (and several files) run in parallel on shared servers. What a driver lacks (its `capabilities`) is
 * reported skipped, never passed: delivery and consumption here, exchanges and subscriptions in
 * messaging-suite.ts, loss, redelivery, restarts, sharing and dead letters in reliability-suite.ts.
 */
import { describe, expect, it } from 'vitest';
import type { QueueSpec } from '../broker.js';
import { suiteContext, type BrokerSuiteOptions } from './context.js';
import { collector, labelOf, testMessage } from './helpers.js';
import { messagingConformance } from './messaging-suite.js';
import { reliabilityConformance } from './reliability-suite.js';

export type { BrokerSuiteOptions, Restartable } from './context.js';

export function brokerConformance(driver: string, options: BrokerSuiteOptions): void {
  describe(`broker conformance: ${driver}`, () => {
    const ctx = suiteContext(driver, options);
    const { caps, connected, queue } = ctx;
    const consuming = it.skipIf(!caps.consume);

    it('declares the capabilities, deferral and subscriptions it was said to have', async () => {
      const broker = await connected();
      expect(broker.capabilities).toEqual(options.capabilities);
      expect(broker.deferral !== null).toBe(options.deferral === true);
      expect(broker.subscriptions !== null).toBe(options.subscriptions !== false);
      if (broker.deferral) expect(broker.deferral.afterMs).toBeGreaterThanOrEqual(0);
    });

    it('delivers a published message with its headers, properties and body intact', async () => {
      const broker = await connected();
      const reader = await ctx.readerFor(broker);
      const q = queue('roundtrip');
      await broker.declare([q]);
      const sent = testMessage('a');
      await broker.publish(sent, { exchange: '', routingKey: q.name });
      const c = collector();
      await reader.consume([q], c.handler, { prefetch: 10 });
      const [delivery] = await c.waitFor(1);
      expect(delivery!.message.headers).toEqual(sent.headers);
      expect(delivery!.message.properties).toMatchObject(sent.properties);
      expect(delivery!.message.contentType).toBe('application/json');
      expect(delivery!.message.contentEncoding).toBe('utf-8');
      expect(delivery!.message.body.equals(sent.body)).toBe(true);
      expect(delivery!.queue).toBe(q.name);
      expect(delivery!.redelivered).toBe(false);
      expect(delivery!.routingKey).toBe(q.name);
      await reader.ack([delivery!]);
    });

    it('keeps FIFO order within a queue and priority', async () => {
      const broker = await connected();
      const reader = await ctx.readerFor(broker);
      const q = queue('fifo');
      await broker.declare([q]);
      for (let i = 0; i < 20; i++)
        await broker.publish(testMessage(`m${i}`), { exchange: '', routingKey: q.name });
      const c = collector();
      await reader.consume([q], c.handler, { prefetch: 0 });
      const got = await c.waitFor(20);
      expect(got.map(labelOf)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      await reader.ack(got);
    });

    it('publishes a batch with publishMany in order, across queues and exchanges', async () => {
      const broker = await connected();
      const reader = await ctx.readerFor(broker);
      const a = queue('many-a');
      const b = queue('many-b');
      const exchange = ctx.unique('many');
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
        const consumer = await reader.consume([q], c.handler, { prefetch: 0 });
        const got = await c.waitFor(10);
        expect(got.map(labelOf).sort()).toEqual(expected(pick).sort());
        // Within one priority, the order of the batch.
        const plain = got.filter((d) => (d.message.properties.priority ?? 0) !== 9).map(labelOf);
        expect(plain).toEqual(expected((i) => pick(i) && i % 10 !== 9));
        await reader.ack(got);
        await consumer.cancel();
      }
    });

    consuming(
      'holds at most `prefetch` unsettled deliveries, and more once some are acknowledged',
      async () => {
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
      },
    );

    consuming('raises the limit with setPrefetch', async () => {
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

    consuming('does not deliver an acknowledged message again', async () => {
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

    consuming('gives unsettled deliveries back when the broker is closed', async () => {
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

    consuming(
      'requeues rejected messages when asked, and drops (or dead-letters) them otherwise',
      async () => {
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
      },
    );

    consuming('delivers requeued messages before the rest of the queue', async () => {
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

    consuming('delivers each message to exactly one of several competing consumers', async () => {
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

    consuming('keeps consuming after a handler throws', async () => {
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

    it.skipIf(!caps.delayedDelivery)('keeps a message with notBefore invisible until then', async () => {
      const broker = await connected();
      const reader = await ctx.readerFor(broker);
      const q = queue('delayed');
      await broker.declare([q]);
      const notBefore = Date.now() + 400;
      await broker.publish(testMessage('later'), { exchange: '', routingKey: q.name }, { notBefore });
      await broker.publish(testMessage('now'), { exchange: '', routingKey: q.name });
      const c = collector();
      await reader.consume([q], c.handler, { prefetch: 10 });
      const [first] = await c.waitFor(1);
      expect(labelOf(first!)).toBe('now');
      const [, second] = await c.waitFor(2, 5_000 + (options.delaySlackMs ?? 0));
      expect(labelOf(second!)).toBe('later');
      expect(Date.now()).toBeGreaterThanOrEqual(notBefore);
      await reader.ack([first!, second!]);
    });

    it.skipIf(!options.deferral)('defers a delivery to its ETA and settles the original', async () => {
      const broker = await connected();
      const deferral = broker.deferral!;
      const q = queue('defer');
      await broker.declare([q]);
      const sent = testMessage('later');
      await broker.publish(sent, { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 10 });
      const [first] = await c.waitFor(1);
      const eta = Date.now() + 2_500;
      await deferral.defer(first!, eta);
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

    it.skipIf(caps.priority === 'none')('orders by priority as its capability says', async () => {
      const broker = await connected();
      const reader = await ctx.readerFor(broker);
      const q: QueueSpec = { ...queue('priority'), maxPriority: 10 };
      await broker.declare([q]);
      for (const p of [0, 3, 6, 9])
        await broker.publish(testMessage(`p${p}`, p), { exchange: '', routingKey: q.name });
      const c = collector();
      await reader.consume([q], c.handler, { prefetch: 0 });
      const got = (await c.waitFor(4)).map(labelOf);
      expect(got).toEqual(caps.priority === 'native' ? ['p9', 'p6', 'p3', 'p0'] : ['p0', 'p3', 'p6', 'p9']);
      await reader.ack(c.received);
    });

    messagingConformance(ctx);
    reliabilityConformance(ctx);
  });
}
