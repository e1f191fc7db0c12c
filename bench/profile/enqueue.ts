/**
 * Enqueue one at a time, each awaited: `npx tsx bench/profile/enqueue.ts [celeriac|python|bullmq|all] [N]`.
 * Celeriac `await add.applyAsync([i, 1])`, Celery `add.apply_async((i, 1))`, BullMQ `await queue.add(...)`.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { celeriacApp, newPrefix, print, python, REDIS_URL } from './common.js';

const which = process.argv[2] ?? 'all';
const N = Number(process.argv[3] ?? 20_000);
const redis = new Redis(REDIS_URL);

async function celeriac(): Promise<void> {
  const prefix = newPrefix();
  const app = celeriacApp(prefix);
  const add = app.tasks.get('interop.add')!;
  await add.applyAsync([0, 1]); // connect
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await add.applyAsync([i, 1]);
  const s = (performance.now() - t0) / 1000;
  print('celeriac applyAsync', { perSecond: N / s, seconds: s });
  await app.close();
  await cleanup(prefix);
}

async function pythonCelery(): Promise<void> {
  const prefix = newPrefix();
  const out = await python(
    `
import time
from interop_app import add
add.apply_async((0, 1))
t0 = time.perf_counter()
for i in range(${N}):
    add.apply_async((i, 1))
print(time.perf_counter() - t0)
`,
    { INTEROP_PREFIX: prefix },
  );
  const s = Number(out.trim());
  print('python apply_async', { perSecond: N / s, seconds: s });
  await cleanup(prefix);
}

async function bullmq(): Promise<void> {
  const prefix = newPrefix();
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection, prefix: prefix.slice(0, -1) });
  await queue.add('add', { x: 0, y: 1 });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await queue.add('add', { x: i, y: 1 });
  const s = (performance.now() - t0) / 1000;
  print('bullmq add', { perSecond: N / s, seconds: s });
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
}

async function cleanup(prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
}

if (which === 'celeriac' || which === 'all') await celeriac();
if (which === 'python' || which === 'all') await pythonCelery();
if (which === 'bullmq' || which === 'all') await bullmq();
redis.disconnect();
