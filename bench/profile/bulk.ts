/**
 * Bulk enqueue of N tasks: `npx tsx bench/profile/bulk.ts [celeriac|python|bullmq|all] [N]`. Celeriac
 * `add.applyAsyncMany(argsList)`, Celery `group(add.s(i, 1) for i in range(N)).apply_async()`, BullMQ
 * `queue.addBulk(jobs)`.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { celeriacApp, newPrefix, print, python, REDIS_URL } from './common.js';

const which = process.argv[2] ?? 'all';
const N = Number(process.argv[3] ?? 20_000);
const redis = new Redis(REDIS_URL);

async function cleanup(prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
}

async function celeriac(): Promise<void> {
  const prefix = newPrefix();
  const app = celeriacApp(prefix);
  const add = app.tasks.get('interop.add')!;
  await add.applyAsync([0, 1]);
  const argsList = Array.from({ length: N }, (_, i) => [i, 1]);
  const t0 = performance.now();
  await add.applyAsyncMany(argsList);
  const s = (performance.now() - t0) / 1000;
  print('celeriac applyAsyncMany', {
    perSecond: N / s,
    seconds: s,
    queued: await redis.llen(`${prefix}bench`),
  });
  await app.close();
  await cleanup(prefix);
}

async function pythonCelery(): Promise<void> {
  const prefix = newPrefix();
  const out = await python(
    `
import time
from celery import group
from interop_app import add
add.apply_async((0, 1))
t0 = time.perf_counter()
group(add.s(i, 1) for i in range(${N})).apply_async()
print(time.perf_counter() - t0)
`,
    { INTEROP_PREFIX: prefix },
  );
  const s = Number(out.trim());
  print('python group.apply_async', { perSecond: N / s, seconds: s });
  await cleanup(prefix);
}

async function bullmq(): Promise<void> {
  const prefix = newPrefix().slice(0, -1);
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection, prefix });
  await queue.add('add', { x: 0, y: 1 });
  const jobs = Array.from({ length: N }, (_, i) => ({ name: 'add', data: { x: i, y: 1 } }));
  const t0 = performance.now();
  await queue.addBulk(jobs);
  const s = (performance.now() - t0) / 1000;
  print('bullmq addBulk', { perSecond: N / s, seconds: s });
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
}

const repeat = Number(process.env.BENCH_REPEAT ?? 3);
for (let r = 0; r < repeat; r++) {
  if (which === 'celeriac' || which === 'all') await celeriac();
  if ((which === 'python' || which === 'all') && r === 0) await pythonCelery();
  if (which === 'bullmq' || which === 'all') await bullmq();
}
redis.disconnect();
