/**
 * Worker options compiled once, the way the app's settings are (temporal's `compileWorkerOptions`): each option
 * given to `new Worker()` (or by the CLI's flags) wins over its setting in the app's configuration, every value is
 * checked, and the result is frozen. A bad value throws ImproperlyConfigured naming the option and the value.
 */
import { availableParallelism } from 'node:os';
import type { Config, PoolName } from '../app/config.js';
import { POOL_NAMES } from '../app/settings.js';
import { show } from '../app/setting-validators.js';
import { ImproperlyConfigured } from '../errors.js';
import { absoluteAppSpec } from './app-module.js';
import { expandNodename } from './nodename.js';
import { workerTaskDefaults, type WorkerTaskDefaults } from './request.js';
import type { WorkerOptions } from './worker.js';

/** What a worker runs with: every option resolved against the app's configuration and checked. */
export interface CompiledWorkerOptions {
  readonly hostname: string;
  /** A built-in pool's name or a custom pool's (`pools`). */
  readonly pool: PoolName | (string & {});
  /** Tasks at once (with autoscale: the maximum). */
  readonly concurrency: number;
  readonly autoscale: readonly [number, number] | undefined;
  /** Unsettled deliveries held at once: concurrency x prefetch multiplier (0 = unlimited). */
  readonly prefetch: number;
  /** Names of the queues to consume from. */
  readonly queues: readonly string[];
  readonly shutdownTimeout: number | null;
  readonly appModule: string | undefined;
  readonly maxTasksPerChild: number | null;
  readonly maxMemoryPerChild: number | null;
  readonly maxWorkerLostRequeues: number | undefined;
  /** The worker's time limits for tasks without their own. */
  readonly taskDefaults: WorkerTaskDefaults;
}

export function defaultConcurrency(pool: PoolName | (string & {})): number {
  if (pool === 'solo') return 1;
  if (pool === 'async') return 50;
  return availableParallelism();
}

const isInteger = (value: unknown): value is number => Number.isInteger(value);

function positiveIntOrNull(name: string, value: number | null): number | null {
  if (value !== null && (!isInteger(value) || value < 1)) {
    throw new ImproperlyConfigured(`${name} must be a positive integer or null, got ${value}`);
  }
  return value;
}

function checkPool(pool: unknown, custom: readonly string[]): PoolName | (string & {}) {
  for (const name of custom) {
    if (POOL_NAMES.includes(name as PoolName)) {
      throw new ImproperlyConfigured(`pools: "${name}" is a built-in pool; give your pool another name`);
    }
  }
  if (typeof pool === 'string' && custom.includes(pool)) return pool;
  if (!POOL_NAMES.includes(pool as PoolName)) {
    const known = [...POOL_NAMES, ...custom];
    throw new ImproperlyConfigured(
      `pool must be one of ${known.join(', ')}, got ${show(pool)}` +
        (custom.length === 0 ? ' (custom pools are given to new Worker(app, { pool, pools }))' : ''),
    );
  }
  return pool as PoolName;
}

function checkAutoscale(
  autoscale: readonly [number, number] | undefined,
  pool: PoolName | (string & {}),
): readonly [number, number] | undefined {
  if (autoscale === undefined) return undefined;
  const [max, min] = autoscale;
  if (!isInteger(max) || !isInteger(min) || min < 0 || max < 1 || min > max) {
    throw new ImproperlyConfigured(
      `autoscale must be [max, min] with max >= 1 and 0 <= min <= max (--autoscale 10,3), got [${max}, ${min}]`,
    );
  }
  if (pool !== 'threads' && pool !== 'prefork') {
    throw new ImproperlyConfigured(
      `autoscale needs the threads or prefork pool, not ${pool} (add -P prefork)`,
    );
  }
  return [max, min];
}

function checkConcurrency(concurrency: number, pool: PoolName | (string & {})): number {
  if (!isInteger(concurrency) || concurrency < 1) {
    throw new ImproperlyConfigured(`concurrency must be a positive integer, got ${concurrency}`);
  }
  return pool === 'solo' ? 1 : concurrency;
}

function checkPrefetchMultiplier(multiplier: number): number {
  if (!isInteger(multiplier) || multiplier < 0) {
    throw new ImproperlyConfigured(`prefetch multiplier must be a non-negative integer, got ${multiplier}`);
  }
  return multiplier;
}

function isQueueNames(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((q) => typeof q === 'string' && q.length > 0);
}

function checkQueues(queues: readonly string[] | undefined, defaultQueue: string): readonly string[] {
  if (queues === undefined || queues.length === 0) return [defaultQueue];
  if (!isQueueNames(queues)) {
    throw new ImproperlyConfigured(`queues must be a list of queue names, got ${show(queues)}`);
  }
  return [...queues];
}

function checkShutdownTimeout(timeout: number | null): number | null {
  if (timeout !== null && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) {
    throw new ImproperlyConfigured(
      `shutdownTimeout must be a positive number of seconds or null, got ${show(timeout)}`,
    );
  }
  return timeout;
}

function checkRequeues(requeues: number | undefined): number | undefined {
  if (requeues !== undefined && (!isInteger(requeues) || requeues < 0)) {
    throw new ImproperlyConfigured(
      `maxWorkerLostRequeues must be a non-negative integer, got ${show(requeues)}`,
    );
  }
  return requeues;
}

/** `options` over the app's configuration, checked and frozen. */
export function compileWorkerOptions(conf: Config, options: WorkerOptions = {}): CompiledWorkerOptions {
  const pool = checkPool(options.pool ?? conf.workerPool, Object.keys(options.pools ?? {}));
  const autoscale = checkAutoscale(options.autoscale, pool);
  const concurrency = checkConcurrency(
    autoscale?.[0] ?? options.concurrency ?? conf.workerConcurrency ?? defaultConcurrency(pool),
    pool,
  );
  const multiplier = checkPrefetchMultiplier(options.prefetchMultiplier ?? conf.workerPrefetchMultiplier);
  return Object.freeze({
    hostname: expandNodename(options.hostname),
    pool,
    concurrency,
    autoscale,
    prefetch: concurrency * multiplier,
    queues: checkQueues(options.queues, conf.taskDefaultQueue),
    shutdownTimeout: checkShutdownTimeout(
      options.shutdownTimeout !== undefined ? options.shutdownTimeout : conf.workerShutdownTimeout,
    ),
    appModule: options.appModule === undefined ? undefined : absoluteAppSpec(options.appModule),
    maxTasksPerChild: positiveIntOrNull(
      'maxTasksPerChild',
      options.maxTasksPerChild !== undefined ? options.maxTasksPerChild : conf.workerMaxTasksPerChild,
    ),
    maxMemoryPerChild: positiveIntOrNull(
      'maxMemoryPerChild',
      options.maxMemoryPerChild !== undefined ? options.maxMemoryPerChild : conf.workerMaxMemoryPerChild,
    ),
    maxWorkerLostRequeues: checkRequeues(options.maxWorkerLostRequeues),
    taskDefaults: workerTaskDefaults(options),
  });
}
