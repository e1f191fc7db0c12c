/** A BullMQ worker for the profiling scripts, in its own process: prints "ready", stops on SIGTERM. */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { REDIS_URL } from './common.js';

const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const worker = new Worker(
  'bench',
  async (job) => {
    const { x, y } = job.data as { x: number; y: number };
    return Promise.resolve(x + y);
  },
  {
    connection,
    prefix: process.env.BENCH_PREFIX ?? 'bench',
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 50),
    ...(process.env.BENCH_KEEP ? {} : { removeOnComplete: { count: 0 } }),
  },
);
await worker.waitUntilReady();
console.log('ready');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
