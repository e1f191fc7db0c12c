/** docs/calling.md: the calling API and its options, one function per section. */
import { Celery, type SignatureDict } from 'celeriac';

export const app = new Celery('proj', {
  broker: 'memory://docs-calling',
  backend: 'memory://docs-calling',
  acceptContent: ['json', 'msgpack'],
  taskRoutes: [
    { 'feeds.*': { queue: 'feeds' }, 'video.encode': 'video' },
    (name, args) => (name === 'images.resize' && args[0] === 'huge' ? { queue: 'big-images' } : null),
  ],
  taskPublishRetryPolicy: { maxRetries: 5, intervalStart: 0, intervalStep: 0.5, intervalMax: 3 },
});

export const add = app.task('tasks.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
export const log = app.task('tasks.log', (value: unknown) => value);
export const fail = app.task('tasks.fail', () => {
  throw new Error('broken');
});
export const importFeed = app.task('feeds.import', (url: string) => url.length);
export const resize = app.task('images.resize', (size: string) => `resized ${size}`);

/** A signature in Celery's dict form (what `link` and `linkError` carry). */
const sig = (task: string, options: Record<string, string> = {}): SignatureDict => ({
  task,
  args: [],
  kwargs: {},
  options,
  subtask_type: null,
  immutable: false,
});

export async function basics(): Promise<number[]> {
  const a = await add.delay(2, 2); // shortcut: positional arguments only
  const b = await add.applyAsync([2, 2], {}, { countdown: 0.1 }); // arguments, kwargs, options
  const c = await add.apply([2, 2]); // run here, now (an EagerResult)
  const d = await app.sendTask<number>('tasks.add', [], { x: 2, y: 2 }); // by name, without the code
  return Promise.all([a, b, c, d].map((r) => r.get({ timeout: 10 })));
}

export async function many(): Promise<number[]> {
  const sums = await add.applyAsyncMany([
    [1, 1],
    [2, 2],
    [3, 3],
  ]); // one round trip for the batch
  const mixed = await app.sendTasks([
    { name: 'tasks.add', args: [10, 10] },
    { name: 'feeds.import', args: ['https://example.com/feed'] }, // routed to "feeds" as usual
  ]);
  return Promise.all([...sums, ...mixed].map((r) => r.get({ timeout: 10 }) as Promise<number>));
}

export async function linking(): Promise<{ sum: number; logged: unknown; errback: unknown }> {
  const sum = await add.applyAsync([2, 2], {}, { link: sig('tasks.log', { task_id: 'log-of-sum' }) });
  const broken = await fail.applyAsync([], {}, { linkError: sig('tasks.log', { task_id: 'log-of-error' }) });
  await broken.get({ timeout: 10, propagate: false });
  return {
    sum: await sum.get({ timeout: 10 }),
    logged: await log.AsyncResult('log-of-sum').get({ timeout: 10 }), // the link got the result: 4
    errback: await log.AsyncResult('log-of-error').get({ timeout: 10 }), // the errback got the failed id
  };
}

export async function timing(): Promise<string[]> {
  const inTenSeconds = await add.applyAsync([1, 1], {}, { countdown: 10 });
  const atDate = await add.applyAsync([1, 1], {}, { eta: new Date(Date.now() + 60_000) });
  const tooLate = await add.applyAsync([1, 1], {}, { expires: new Date(Date.now() - 1) });
  const soon = await add.applyAsync([1, 1], {}, { countdown: 0.05, expires: 120 });
  await soon.get({ timeout: 10 });
  await tooLate.get({ timeout: 10, propagate: false }); // REVOKED: it expired before a worker got it
  return Promise.all([inTenSeconds, atDate, tooLate, soon].map((r) => r.state()));
}

export async function options(): Promise<unknown[]> {
  const packed = await add.applyAsync([3, 4], {}, { serializer: 'msgpack', compression: 'zlib' });
  const tagged = await add.applyAsync(
    [3, 4],
    {},
    {
      headers: { 'x-request-id': 'r-42' }, // readable in the task as request.headers['x-request-id']
      shadow: 'add-for-r-42', // the name logs and monitors show
      timeLimit: 30,
      softTimeLimit: 20,
      priority: 9,
    },
  );
  const routed = await importFeed.delay('https://example.com/feed'); // to the 'feeds' queue by taskRoutes
  const big = await resize.delay('huge'); // to 'big-images' by the router function
  const fireAndForget = await add.applyAsync([1, 2], {}, { ignoreResult: true });
  return [
    await packed.get({ timeout: 10 }),
    await tagged.get({ timeout: 10 }),
    await routed.get({ timeout: 10 }),
    await big.get({ timeout: 10 }),
    fireAndForget.ignored,
  ];
}
