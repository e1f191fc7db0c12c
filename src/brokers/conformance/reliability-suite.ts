/**
 * What a broker promises about failures: deliveries lost with their consumer are reported (`onLost`) and come
 * back (`redeliversOnConsumerLoss`), messages outlive a restart (`durable`), another process shares the queues
 * (`shared`), and rejected messages are kept with their reason (`deadLetter`). Each needs a hook from the driver's
 * test (context.ts); a capability declared without it fails.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import { collector, labelOf, testMessage } from './helpers.js';

const PEER = fileURLToPath(new URL('./peer-process.ts', import.meta.url));

/** Runs peer-process.ts with a job; resolves with what it printed. */
function peer(job: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', PEER, JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(out.trim());
      else reject(new Error(`peer process exited with ${code}: ${err}`));
    });
  });
}

/** A broker holding one unsettled delivery of `label`, its consumer cancelled, and what `onLost` reports. */
async function holding(ctx: SuiteContext, name: string, label: string) {
  const broker = await ctx.connected();
  const q = ctx.queue(name);
  await broker.declare([q]);
  await broker.publish(testMessage(label), { exchange: '', routingKey: q.name });
  const lost = collector();
  const c = collector();
  const consumer = await broker.consume([q], c.handler, {
    prefetch: 1,
    onLost: (deliveries) => deliveries.forEach(lost.handler),
  });
  const [held] = await c.waitFor(1);
  // No more deliveries to this broker: what comes back must go to the next consumer.
  await consumer.cancel();
  return { broker, q, held: held!, lost };
}

export function reliabilityConformance(ctx: SuiteContext): void {
  const { caps } = ctx;

  it.skipIf(!caps.losesDeliveries)(
    'reports deliveries it lost through onLost; settling them does nothing',
    async () => {
      const lose = ctx.need('loseDeliveries', 'losesDeliveries');
      const { broker, q, held, lost } = await holding(ctx, 'lost', 'gone');
      await lose(broker);
      const [reported] = await lost.waitFor(1);
      expect(reported!.tag).toBe(held.tag);
      expect(labelOf(reported!)).toBe('gone');
      await broker.ack([held]);
      const other = await ctx.connected();
      const c = collector();
      await other.consume([q], c.handler, { prefetch: 1 });
      const [back] = await c.waitFor(1);
      expect(labelOf(back!)).toBe('gone');
      await other.ack([back!]);
    },
  );

  it.skipIf(!caps.redeliversOnConsumerLoss)(
    'delivers unsettled messages again when their consumer is lost',
    async () => {
      const lose = ctx.need('loseDeliveries', 'redeliversOnConsumerLoss');
      const { broker, q, held } = await holding(ctx, 'redeliver', 'orphan');
      await lose(broker);
      const other = await ctx.connected();
      const c = collector();
      await other.consume([q], c.handler, { prefetch: 1 });
      const [again] = await c.waitFor(1);
      expect(labelOf(again!)).toBe('orphan');
      expect(again!.redelivered).toBe(true);
      expect(again!.message.body.equals(held.message.body)).toBe(true);
      await other.ack([again!]);
      expect(await other.size(q.name)).toBe(0);
    },
  );

  it.skipIf(!caps.durable)('keeps messages of a durable queue across a restart of the broker', async () => {
    const restartable = await ctx.need('restartable', 'durable')();
    try {
      const before = ctx.track(await restartable.create());
      await before.connect();
      const q = { ...ctx.queue('durable'), durable: true };
      await before.declare([q]);
      await before.publish(testMessage('kept'), { exchange: '', routingKey: q.name });
      await before.close();
      await restartable.restart();
      const after = ctx.track(await restartable.create());
      await after.connect();
      const reader = caps.consume ? after : await ctx.readerFor(after);
      const c = collector();
      await reader.consume([q], c.handler, { prefetch: 1 });
      const [kept] = await c.waitFor(1, 30_000);
      expect(labelOf(kept!)).toBe('kept');
      await reader.ack([kept!]);
      await after.close();
      if (reader !== after) await reader.close();
    } finally {
      await restartable.stop();
    }
  });

  it.skipIf(!caps.shared)('shares its queues with another process', async () => {
    const connection = ctx.need('connection', 'shared');
    const broker = await ctx.connected();
    const q = ctx.queue('shared');
    await broker.declare([q]);
    const job = { url: connection.url, transportOptions: connection.transportOptions ?? {}, queue: q.name };
    for (const label of ['to-peer-1', 'to-peer-2'])
      await broker.publish(testMessage(label), { exchange: '', routingKey: q.name });
    expect(JSON.parse(await peer({ ...job, consume: 2 }))).toEqual(['to-peer-1', 'to-peer-2']);
    expect(await broker.size(q.name)).toBe(0);
    await peer({ ...job, publish: ['from-peer'] });
    const reader = await ctx.readerFor(broker);
    const c = collector();
    await reader.consume([q], c.handler, { prefetch: 1 });
    const [got] = await c.waitFor(1);
    expect(labelOf(got!)).toBe('from-peer');
    await reader.ack([got!]);
  });

  it.skipIf(!caps.deadLetter)(
    'keeps a message rejected without requeue as a dead letter, with its reason',
    async () => {
      const read = ctx.need('deadLetters', 'deadLetter');
      const broker = await ctx.connected();
      const q = ctx.queue('dead');
      await broker.declare([q]);
      await broker.publish(testMessage('poison'), { exchange: '', routingKey: q.name });
      await broker.publish(testMessage('good'), { exchange: '', routingKey: q.name });
      const c = collector();
      await broker.consume([q], c.handler, { prefetch: 10 });
      const [poison, good] = await c.waitFor(2);
      await broker.reject(poison!, { requeue: false, reason: 'body-decode-error: conformance' });
      await broker.ack([good!]);
      expect(await read(broker, q.name)).toEqual([
        { reason: 'body-decode-error: conformance', label: 'poison' },
      ]);
      expect(await broker.size(q.name)).toBe(0);
    },
  );
}
