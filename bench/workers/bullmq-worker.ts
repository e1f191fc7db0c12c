/**
 * The BullMQ worker of the benchmark, in its own process: a no-op processor at concurrency 50 (BENCH_CONCURRENCY),
 * and the chord body's equivalent (a flow parent summing its children's values). Prints BENCH-READY when running.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { READY } from '../lib/processes.js';

const env = process.env;
const connection = new Redis(env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/15', {
  maxRetriesPerRequest: null,
});
const worker = new Worker(
  env.BENCH_QUEUE ?? 'bench',
  async (job) => {
    if (job.name === 'tsum') {
      const values = Object.values(await job.getChildrenValues<number>());
      return values.reduce((a, b) => a + b, 0);
    }
    return (job.data as { i?: number }).i ?? 0;
  },
  { connection, prefix: env.BENCH_PREFIX ?? 'bull', concurrency: Number(env.BENCH_CONCURRENCY ?? 50) },
);
await worker.waitUntilReady();
process.stdout.write(`${READY}\n`);

const stop = (): void => {
  void worker
    .close()
    .then(() => connection.quit())
    .then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
