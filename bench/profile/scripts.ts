/**
 * Redis CPU of each Lua script per message, on a private Redis (it resets the server's stats):
 * `BENCH_REDIS_URL=redis://127.0.0.1:6399/0 npx tsx bench/profile/scripts.ts [N]`. Phases: fetch (batches of
 * 100), ack (batches of 50), store (batches of 50); each prints EVALSHA microseconds per message.
 */
import { Redis } from 'ioredis';
import { ackScript } from '../../src/brokers/redis/lua/settle.js';
import { fetchScript } from '../../src/brokers/redis/lua/fetch.js';
import { storeScript } from '../../src/backends/redis/lua/store.js';
import { encodeEnvelope } from '../../src/protocol/envelope.js';
import { uuid } from '../../src/protocol/ids.js';
import { encodeTaskMessage } from '../../src/protocol/message.js';
import { newPrefix, print, REDIS_URL } from './common.js';

const N = Number(process.argv[2] ?? 20_000);
const redis = new Redis(REDIS_URL);
const prefix = newPrefix();
const queue = `${prefix}q`;
const unacked = `${prefix}unacked`;
const index = `${prefix}unacked_index`;

async function evalshaUs(): Promise<number> {
  const info = await redis.info('commandstats');
  return Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(info)?.[1] ?? 0);
}

async function phase(name: string, run: () => Promise<void>): Promise<void> {
  await redis.config('RESETSTAT');
  await run();
  print(name, { usPerMessage: (await evalshaUs()) / N });
}

const ids: string[] = [];
for (let start = 0; start < N; start += 2000) {
  const pipeline = redis.pipeline();
  for (let i = start; i < Math.min(N, start + 2000); i++) {
    const id = uuid();
    ids.push(id);
    const wire = encodeTaskMessage(
      { id, task: 'interop.add', args: [i, 1], kwargs: {}, origin: 'bench@host', replyTo: 'bench' },
      { serializer: 'json', now: Date.now() },
    );
    pipeline.lpush(queue, encodeEnvelope(wire, { exchange: '', routingKey: 'q', deliveryTag: uuid() }));
  }
  await pipeline.exec();
}
const tags: string[] = [];
const score = (Date.now() / 1000).toFixed(6);
await phase('fetch', async () => {
  for (;;) {
    const reply = (await fetchScript.run(
      redis,
      [unacked, index, queue, `${queue}\x06\x163`],
      [1, 100, score, '0', uuid(), 'q'],
    )) as string[];
    if (reply.length === 0) return;
    for (let i = 1; i < reply.length; i += 3) tags.push(String(reply[i]));
  }
});
await phase('ack', async () => {
  for (let i = 0; i < tags.length; i += 50)
    await ackScript.run(
      redis,
      [unacked, index],
      tags.slice(i, i + 50).flatMap((t) => [t, score, score]),
    );
});
await phase('store', async () => {
  for (let i = 0; i < ids.length; i += 50) {
    const chunk = ids.slice(i, i + 50);
    await storeScript.run(
      redis,
      chunk.map((id) => `${prefix}celery-task-meta-${id}`),
      [
        300,
        ...chunk.map((id) =>
          JSON.stringify({
            status: 'SUCCESS',
            result: 2,
            traceback: null,
            children: [],
            date_done: new Date().toISOString(),
            task_id: id,
          }),
        ),
      ],
    );
  }
});
const keys = await redis.keys(`${prefix}*`);
for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
redis.disconnect();
