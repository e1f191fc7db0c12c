/** The app bench/pools.ts runs in each pool (children load it themselves). */
import { Celery } from '../src/index.js';

export const app = new Celery('bench-pools', { brokerTransportOptions: { pollingInterval: 0.005 } });

/** An I/O-free task that returns at once: measures the per-task cost of the pool (IPC for threads/prefork). */
export const noop = app.task('bench.noop', (i: number) => i);

/** CPU-bound: naive Fibonacci, about 10 ms at n = 30 on one core. */
function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
export const cpu = app.task('bench.cpu', (n: number) => fib(n));
