/** Runs every example of docs/tasks.md against a real worker (the built package, as users import it). */
import { afterEach, expect, it } from 'vitest';
import { silentLogger, startTestWorker, type TestWorker } from 'celeriac/testing';
import * as basics from './basics.js';
import * as retrying from './retrying.js';
import * as states from './states.js';
import * as semi from './semipredicates.js';
import * as handlers from './handlers.js';
import * as limits from './limits.js';

const workers: TestWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
async function worker(app: Parameters<typeof startTestWorker>[0]): Promise<void> {
  app.logger = silentLogger();
  workers.push(await startTestWorker(app));
}

it('basics: names, the request through currentTask(), bound tasks', async () => {
  await worker(basics.app);
  expect(await (await basics.add.delay(2, 3)).get({ timeout: 5 })).toBe(5);
  const who = await basics.whoami.delay();
  expect(await who.get({ timeout: 5 })).toMatch(
    new RegExp(`^tasks\\.whoami\\[${who.id}\\] on .+, retries=0$`),
  );
  const dumped = await basics.dump.applyAsync([1, 2], {}, { headers: { 'x-tenant': 'acme' } });
  expect(await dumped.get({ timeout: 5 })).toEqual({
    id: dumped.id,
    args: [1, 2],
    kwargs: {},
    tenant: 'acme',
    sum: 3,
  });
});

it('retrying: retry() with exc and countdown', async () => {
  await worker(retrying.app);
  expect(await (await retrying.tweet.delay('hello')).get({ timeout: 5 })).toBe('posted: hello');
  // Network failures are retried with backoff; this one fails at once (nothing listens on port 9).
  const feed = await retrying.fetchFeed.delay('http://127.0.0.1:9/feed');
  await expect.poll(() => feed.state(), { timeout: 5_000 }).toBe('RETRY');
});

it('states: PROGRESS followed with onProgress', async () => {
  await worker(states.app);
  const { progress, result } = await states.followProgress(['a', 'b', 'c']);
  expect(result).toBe(3);
  for (const step of progress) expect(step).toMatchObject({ total: 3 });
});

it('semipredicates: Reject and Ignore', async () => {
  await worker(semi.app);
  expect(await (await semi.render.delay('logo.svg')).get({ timeout: 5 })).toBe('rendered logo.svg');
  const rejected = await semi.render.delay('photo.png');
  const ignored = await semi.processBatch.delay('batch-7');
  const ok = await semi.processBatch.delay('batch-8');
  expect(await ok.get({ timeout: 5 })).toMatch(/^batch-8 by /);
  expect(await rejected.state()).toBe('PENDING');
  expect(await ignored.state()).toBe('PENDING');
});

it('handlers and hooks fire in the documented order', async () => {
  await worker(handlers.app);
  expect(await (await handlers.resize.delay(640)).get({ timeout: 5 })).toBe(320);
  await expect.poll(() => handlers.order.length).toBe(6);
  expect(handlers.order).toEqual([
    'taskPrerun tasks.resize',
    'beforeStart docs',
    'onSuccess 320',
    'taskSuccess 320',
    'afterReturn SUCCESS',
    'taskPostrun SUCCESS',
  ]);
});

it('limits: the soft time limit and a rate limit', async () => {
  await worker(limits.app);
  const crawl = await (await limits.crawl.delay(100)).get({ timeout: 5 });
  expect(crawl.complete).toBe(false);
  expect(crawl.done).toBeGreaterThan(0);
  const sent = await Promise.all([1, 2, 3].map((id) => limits.notify.delay(id)));
  expect(await Promise.all(sent.map((r) => r.get({ timeout: 5 })))).toEqual([
    'notified 1',
    'notified 2',
    'notified 3',
  ]);
});
