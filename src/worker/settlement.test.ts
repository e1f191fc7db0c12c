import { afterEach, describe, expect, it } from 'vitest';
import { fixture, QUEUE, type Fixture } from '../../test/support/worker-requests.js';
import type { Broker, Delivery } from '../brokers/broker.js';
import type { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { ConnectionError } from '../errors.js';
import type { Request } from './request.js';
import { RATE_LIMIT_MAX_HELD, Settlement } from './settlement.js';

const DEBUG = 20;

/**
 * The memory broker with a `deferral` whose answer each test decides: the memory driver has no delayed redelivery of
 * its own (only the AMQP driver defers), so this is the one part stood in for.
 */
function deferringBroker(broker: Broker, answer: (delivery: Delivery) => Promise<void>): Broker {
  return Object.assign(Object.create(broker) as Broker, { deferral: { afterMs: 1000, defer: answer } });
}

describe('Settlement', () => {
  let f: Fixture;
  let settlement: Settlement;
  afterEach(async () => {
    await f.close();
  });

  async function setup(options: { prefetch?: number; broker?: (b: Broker) => Broker } = {}): Promise<void> {
    f = await fixture(options);
    const broker = options.broker ? options.broker(f.broker) : f.broker;
    settlement = new Settlement({ broker, logger: f.logger, state: f.state });
  }

  const ready = (): Promise<number> => f.broker.size(QUEUE);
  /** Messages back in the queue: the fixture's consumer (unlimited prefetch) has them delivered again at once. */
  const redelivered = async (n: number): Promise<Delivery[]> => {
    await expect.poll(() => f.redelivered().length).toBe(n);
    return [...f.redelivered()];
  };
  const debugLines = (): string[] => f.lines.filter((l) => l.level === DEBUG).map((l) => l.msg);

  it('acks in batches: the message is gone, and a second settlement is a no-op logged at debug', async () => {
    await setup();
    const [a, b] = [await f.request(), await f.request()];
    await Promise.all([settlement.ack(a), settlement.ack(b)]);
    expect([a.fate, b.fate]).toEqual(['acked', 'acked']);
    await settlement.reject(a, true, 'again');
    await settlement.ack(a);
    expect(a.fate).toBe('acked');
    await f.broker.close();
    expect(await ready()).toBe(0);
    expect(debugLines()).toEqual([
      `requeue of ${a.label} ignored: its delivery is already acked`,
      `ack of ${a.label} ignored: its delivery is already acked`,
    ]);
  });

  it('rejects with requeue to the back of the queue, without requeue to the dead letters with the reason', async () => {
    await setup();
    const requeued = await f.request();
    const dead = await f.request();
    await settlement.reject(requeued, true, 'result-store-failed');
    await settlement.reject(dead, false, 'task-failed');
    expect([requeued.fate, dead.fate]).toEqual(['requeued', 'dead-lettered']);
    expect((await redelivered(1)).map((d) => d.redelivered)).toEqual([true]);
    expect((f.broker as MemoryBroker).deadLetters.at(-1)).toMatchObject({
      queue: QUEUE,
      reason: 'task-failed',
    });
    await settlement.ack(dead);
    expect(debugLines()).toEqual([`ack of ${dead.label} ignored: its delivery is already dead-lettered`]);
  });

  it('gives back only what is still held, in one call', async () => {
    await setup();
    const [a, b, c] = [await f.request(), await f.request(), await f.request()];
    await settlement.ack(b);
    await settlement.giveBack([a, b, c], 'prefetched message(s)');
    expect([a.fate, b.fate, c.fate]).toEqual(['given-back', 'acked', 'given-back']);
    expect((await redelivered(2)).map((d) => d.message.headers.id)).toEqual([a.id, c.id]);
    expect(debugLines()).toEqual([`give back of ${b.label} ignored: its delivery is already acked`]);
  });

  it('a lost delivery is settled by nobody: nothing reaches the broker and later settlements are no-ops', async () => {
    await setup();
    const request = await f.request();
    expect(settlement.lost(request)).toBe(true);
    expect(settlement.lost(request)).toBe(false);
    await settlement.ack(request);
    await settlement.reject(request, false, 'x');
    expect(request.fate).toBe('lost');
    expect((f.broker as MemoryBroker).deadLetters).toHaveLength(0);
    expect(debugLines()).toHaveLength(2);
  });

  it('defers: deferring, then deferred once the broker has it', async () => {
    let confirm!: () => void;
    await setup({
      broker: (b) => deferringBroker(b, () => new Promise<void>((resolve) => (confirm = resolve))),
    });
    const request = await f.request();
    expect(settlement.defers(500)).toBe(false);
    expect(settlement.defers(5000)).toBe(true);
    const deferring = settlement.defer(request, Date.now() + 60_000);
    expect(request.fate).toBe('deferring');
    expect(request.settled).toBe(true);
    confirm();
    expect(await deferring).toEqual({ outcome: 'deferred' });
    expect(request.fate).toBe('deferred');
  });

  it('a defer the broker refuses is the one way back: deferring -> held, settled normally afterwards', async () => {
    await setup({
      broker: (b) => deferringBroker(b, () => Promise.reject(new Error('delay queue missing'))),
    });
    const request = await f.request();
    const result = await settlement.defer(request, Date.now() + 60_000);
    expect(result.outcome).toBe('failed');
    expect(request.fate).toBe('held');
    await settlement.ack(request);
    expect(request.fate).toBe('acked');
  });

  it('a delivery lost while it is being deferred stays lost', async () => {
    let refuse!: (error: Error) => void;
    await setup({
      broker: (b) => deferringBroker(b, () => new Promise<void>((_, reject) => (refuse = reject))),
    });
    const request = await f.request();
    const deferring = settlement.defer(request, Date.now() + 60_000);
    expect(settlement.loseDeferring(new Set([request.delivery]))).toBe(1);
    refuse(new ConnectionError('channel closed'));
    expect((await deferring).outcome).toBe('lost');
    expect(request.fate).toBe('lost');
  });

  it('rejects a delivery that never became a request', async () => {
    await setup();
    const request = await f.request();
    await settlement.rejectDelivery(request.delivery, 'unknown-task');
    expect((f.broker as MemoryBroker).deadLetters.at(-1)?.reason).toBe('unknown-task');
  });

  it('raises prefetch by one per ETA and rate-limited request held, and lowers it when they leave', async () => {
    await setup({ prefetch: 8 });
    const applied: number[] = [];
    settlement.onPrefetchChange((n) => applied.push(n));
    const [eta, limited] = [await f.request(), await f.request('tasks.mul')];
    settlement.holdForEta(eta);
    settlement.holdForEta(eta);
    settlement.holdForRateLimit(limited);
    settlement.holdForRateLimit(eta);
    expect(f.state.prefetchCount).toBe(11);
    settlement.releaseRateLimit(limited);
    settlement.release(eta);
    settlement.release(eta);
    expect(applied).toEqual([9, 10, 11, 10, 9, 8]);
    expect([eta.etaCredit, eta.rateCredit, limited.rateCredit]).toEqual([false, false, false]);
  });

  it('holds at most RATE_LIMIT_MAX_HELD rate-limit credits per task; a lost request gives its credits back', async () => {
    await setup({ prefetch: 1 });
    const template = await f.request('tasks.mul');
    const clones: Request[] = [];
    for (let i = 0; i <= RATE_LIMIT_MAX_HELD; i++) {
      const clone = Object.assign(Object.create(template) as Request, {
        rateCredit: false,
        etaCredit: false,
      });
      clones.push(clone);
      settlement.holdForRateLimit(clone);
    }
    expect(f.state.prefetchCount).toBe(1 + RATE_LIMIT_MAX_HELD);
    expect(clones.at(-1)!.rateCredit).toBe(false);
    settlement.lost(clones[0]!);
    expect(f.state.prefetchCount).toBe(RATE_LIMIT_MAX_HELD);
  });

  it('with unlimited prefetch (0) there is nothing to raise', async () => {
    await setup({ prefetch: 0 });
    const applied: number[] = [];
    settlement.onPrefetchChange((n) => applied.push(n));
    settlement.holdForEta(await f.request());
    expect([applied, f.state.prefetchCount]).toEqual([[], 0]);
  });
});
