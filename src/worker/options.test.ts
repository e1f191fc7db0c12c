import { describe, expect, it } from 'vitest';
import { compileConfig } from '../app/config.js';
import { compileWorkerOptions, defaultConcurrency } from './options.js';

const conf = compileConfig(
  { broker: 'memory://', taskDefaultQueue: 'jobs', workerPrefetchMultiplier: 2 },
  {},
);

describe('compileWorkerOptions', () => {
  it('fills in from the app configuration, and freezes', () => {
    const compiled = compileWorkerOptions(conf, {});
    expect(compiled).toMatchObject({ pool: 'async', concurrency: 50, prefetch: 100, queues: ['jobs'] });
    expect(compiled.shutdownTimeout).toBeNull();
    expect(Object.isFrozen(compiled)).toBe(true);
  });

  it('lets options win over settings', () => {
    const app = compileConfig({ broker: 'memory://', workerPool: 'threads', workerConcurrency: 3 }, {});
    const compiled = compileWorkerOptions(app, { concurrency: 5, prefetchMultiplier: 0, shutdownTimeout: 2 });
    expect(compiled).toMatchObject({ pool: 'threads', concurrency: 5, prefetch: 0, shutdownTimeout: 2 });
    expect(compileWorkerOptions(app, {}).concurrency).toBe(3);
  });

  it('runs one task at a time on the solo pool, and autoscale sets the maximum', () => {
    expect(compileWorkerOptions(conf, { pool: 'solo', concurrency: 8 }).concurrency).toBe(1);
    expect(compileWorkerOptions(conf, { pool: 'prefork', autoscale: [6, 2] }).concurrency).toBe(6);
    expect(defaultConcurrency('solo')).toBe(1);
  });

  it.each([
    [{ concurrency: 0 }, 'concurrency must be a positive integer, got 0'],
    [{ prefetchMultiplier: -1 }, 'prefetch multiplier must be a non-negative integer, got -1'],
    [{ maxTasksPerChild: 1.5 }, 'maxTasksPerChild must be a positive integer or null, got 1.5'],
    [{ maxMemoryPerChild: 0 }, 'maxMemoryPerChild must be a positive integer or null, got 0'],
    [{ autoscale: [2, 3] as const }, 'autoscale must be [max, min] with max >= 1 and 0 <= min <= max'],
    [
      { autoscale: [4, 1] as const },
      'autoscale needs the threads or prefork pool, not async (add -P prefork)',
    ],
    [{ timeLimit: -1 }, 'timeLimit must be a positive number of seconds or null, got -1'],
    [{ pool: 'gevent' as never }, 'pool must be one of async, solo, threads, prefork, got "gevent"'],
    [{ shutdownTimeout: 0 }, 'shutdownTimeout must be a positive number of seconds or null, got 0'],
    [{ queues: [''] }, 'queues must be a list of queue names, got [""]'],
    [{ maxWorkerLostRequeues: -1 }, 'maxWorkerLostRequeues must be a non-negative integer, got -1'],
  ])('refuses %j, naming the option', (options, message) => {
    expect(() => compileWorkerOptions(conf, options)).toThrow(message);
  });
});
