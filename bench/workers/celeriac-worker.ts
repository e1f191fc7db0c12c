/**
 * The Celeriac worker of the benchmark, in its own process like its peers: the same no-op tasks as
 * bench/python/bench_app.py, configured from the same BENCH_* variables; prints BENCH-READY once it consumes.
 */
import { Celery, Worker } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { READY } from '../lib/processes.js';

const env = process.env;
const prefix = env.BENCH_PREFIX ?? '';
const app = new Celery('bench', {
  broker: env.BENCH_BROKER ?? 'redis://127.0.0.1:6379/15',
  backend: env.BENCH_BACKEND || null,
  brokerTransportOptions: prefix ? { global_keyprefix: prefix } : {},
  taskDefaultQueue: env.BENCH_QUEUE ?? 'bench',
  taskIgnoreResult: env.BENCH_IGNORE_RESULT === '1',
  resultExpires: 600,
});
app.logger = silentLogger();
app.task('bench.noop', (i = 0) => i);
app.task('bench.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));

const worker = new Worker(app, {
  queues: [env.BENCH_QUEUE ?? 'bench'],
  pool: 'async',
  concurrency: Number(env.BENCH_CONCURRENCY ?? 50),
  logger: silentLogger(),
});
await worker.start();
process.stdout.write(`${READY}\n`);

const stop = (): void => {
  void worker
    .stop()
    .then(() => app.close())
    .then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
