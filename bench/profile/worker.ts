/**
 * A Celeriac worker for the profiling scripts, in its own process (so it can run under --cpu-prof):
 * `BENCH_PREFIX=... BENCH_CONCURRENCY=50 node --import tsx bench/profile/worker.ts`. Prints "ready" once consuming,
 * stops on SIGTERM or when stdin closes.
 */
import { Worker } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { celeriacApp, QUEUE } from './common.js';

const prefix = process.env.BENCH_PREFIX ?? 'bench:';
const app = celeriacApp(prefix, { ignoreResult: process.env.BENCH_IGNORE === '1' });
const worker = new Worker(app, {
  queues: [QUEUE],
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 50),
  logger: silentLogger(),
});
await worker.start();
console.log('ready');
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await worker.stop();
  await app.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
