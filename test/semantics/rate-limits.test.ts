/**
 * Rate limits per task per worker, as Celery's token buckets, but without blocking other tasks behind a
 * rate-limited one (reference Part 3, item 4). Assertions are on order and counts, never on elapsed time.
 */
import { expect, it } from 'vitest';
import { ImproperlyConfigured } from '../../src/errors.js';
import { onEveryDriver } from './harness.js';

onEveryDriver('rate limits', ({ makeApp, startWorker }) => {
  it('a 2/s task does not slow an unlimited task sharing the queue', async () => {
    const app = makeApp();
    const order: string[] = [];
    const limited = app.task('rl.limited', (n: number) => void order.push(`limited-${n}`), {
      rateLimit: '2/s',
    });
    const free = app.task('rl.free', (n: number) => void order.push(`free-${n}`));
    const slow = await Promise.all(Array.from({ length: 12 }, (_, i) => limited.delay(i)));
    const fast = await Promise.all(Array.from({ length: 5 }, (_, i) => free.delay(i)));
    // A small prefetch, so that limited requests would fill it if they held their place.
    await startWorker(app, { concurrency: 2, prefetchMultiplier: 1 });
    await Promise.all(fast.map((r) => r.get({ timeout: 10 })));
    await Promise.all(slow.map((r) => r.get({ timeout: 20 })));
    // Limited tasks run in the order they were sent, one token (500 ms) apart; the free ones, sent after all
    // twelve, did not queue behind them: they all ran within the first few tokens. (Held in the prefetch, as
    // Celery holds them, the free ones would only be fetched after about ten limited ones had run.)
    const limitedOrder = order.filter((o) => o.startsWith('limited'));
    expect(limitedOrder).toEqual(Array.from({ length: 12 }, (_, i) => `limited-${i}`));
    const sixthLimited = order.indexOf('limited-5');
    for (let i = 0; i < 5; i++) expect(order.indexOf(`free-${i}`)).toBeLessThan(sixthLimited);
  });

  it('runs one task per token: at 1/m only the first runs now, the rest wait without taking slots', async () => {
    const app = makeApp();
    const ran: number[] = [];
    const limited = app.task('rl.minute', (n: number) => void ran.push(n), { rateLimit: '1/m' });
    const free = app.task('rl.free', (n: number) => n);
    await Promise.all([1, 2, 3].map((n) => limited.delay(n)));
    const after = await Promise.all([1, 2, 3, 4].map((n) => free.delay(n)));
    const worker = await startWorker(app, { concurrency: 1, prefetchMultiplier: 1 });
    expect(await Promise.all(after.map((r) => r.get({ timeout: 10 })))).toEqual([1, 2, 3, 4]);
    expect(ran).toEqual([1]);
    // Changed at runtime (remote control's rate_limit): removing the limit releases the waiting ones in order.
    worker.setRateLimit('rl.minute', null);
    await expect.poll(() => ran, { timeout: 10_000 }).toEqual([1, 2, 3]);
  });

  it('applies a limit set at runtime, and refuses unknown tasks and malformed rates', async () => {
    const app = makeApp();
    const ran: number[] = [];
    const task = app.task('rl.later', (n: number) => void ran.push(n));
    const worker = await startWorker(app, { concurrency: 1 });
    worker.setRateLimit('rl.later', '1/h');
    await Promise.all([1, 2].map((n) => task.delay(n)));
    await expect.poll(() => ran, { timeout: 10_000 }).toEqual([1]);
    expect(() => worker.setRateLimit('rl.nope', '1/s')).toThrow(ImproperlyConfigured);
    expect(() => worker.setRateLimit('rl.later', '5 per minute')).toThrow(/Invalid rate limit/);
    worker.setRateLimit('rl.later', 1000);
    await expect.poll(() => ran, { timeout: 10_000 }).toEqual([1, 2]);
  });

  it('ignores limits with workerDisableRateLimits', async () => {
    const app = makeApp({ workerDisableRateLimits: true });
    const limited = app.task('rl.ignored', (n: number) => n, { rateLimit: '1/h' });
    await startWorker(app);
    const results = await Promise.all([1, 2, 3].map((n) => limited.delay(n)));
    expect(await Promise.all(results.map((r) => r.get({ timeout: 10 })))).toEqual([1, 2, 3]);
  });

  it('applies taskDefaultRateLimit to tasks without their own limit', async () => {
    const app = makeApp({ taskDefaultRateLimit: '1/h' });
    const ran: string[] = [];
    const a = app.task('rl.defaulted', (s: string) => void ran.push(s));
    const b = app.task('rl.unlimited', (s: string) => void ran.push(s), { rateLimit: null });
    await startWorker(app);
    await a.delay('a1');
    await a.delay('a2');
    const free = await Promise.all(['b1', 'b2'].map((s) => b.delay(s)));
    await Promise.all(free.map((r) => r.get({ timeout: 10 })));
    expect(ran.filter((s) => s.startsWith('a'))).toEqual(['a1']);
  });

  it('gives requests waiting for a token back to the queue on shutdown', async () => {
    const app = makeApp();
    const ran: number[] = [];
    const limited = app.task('rl.held', (n: number) => void ran.push(n), { rateLimit: '1/h' });
    const worker = await startWorker(app);
    await Promise.all([1, 2, 3].map((n) => limited.delay(n)));
    await expect.poll(() => ran, { timeout: 10_000 }).toEqual([1]);
    const broker = await app.getBroker();
    await expect.poll(() => broker.size('celery'), { timeout: 10_000 }).toBe(0);
    await worker.stop();
    const again = await app.getBroker();
    expect(await again.size('celery')).toBe(2);
  });
});
