/**
 * Creates the pool named by `-P` / `workerPool`: one of the built-in pools, or a custom one given to this worker
 * (`new Worker(app, { pool: 'mine', pools: { mine: factory } })`). The built-in table is fixed: nothing registers
 * into a module-global at run time, so pool children and other workers in the process see the same pools.
 */
import type { PoolName } from '../../app/config.js';
import type { ResultBackend } from '../../backends/backend.js';
import type { Broker } from '../../brokers/broker.js';
import { ImproperlyConfigured } from '../../errors.js';
import type { Logger } from '../../lifecycle/logger.js';
import { AsyncPool } from './async-pool.js';
import type { Pool } from './pool.js';

export interface PoolContext {
  /** Jobs at once; for threads and prefork, the threads or processes started at first. */
  readonly concurrency: number;
  readonly logger: Logger;
  /** `path[:name]` of the module exporting the app: threads and prefork children load it themselves. */
  readonly appModule: string | undefined;
  readonly hostname: string;
  /** The worker's connections; children reach them through the worker (pools/connections.ts). */
  readonly broker: Broker;
  readonly backend: ResultBackend;
  readonly maxTasksPerChild: number | null;
  /** KiB. */
  readonly maxMemoryPerChild: number | null;
  readonly onCapacityChange?: () => void;
  readonly onFatal?: (error: Error) => void;
}

export type PoolFactory = (context: PoolContext) => Pool | Promise<Pool>;

function needsAppModule(pool: 'threads' | 'prefork', context: PoolContext): string {
  if (context.appModule) return context.appModule;
  const where = pool === 'prefork' ? 'child processes' : 'worker threads';
  throw new ImproperlyConfigured(
    `The ${pool} pool runs tasks in ${where} that load your app themselves, so it needs the module that exports ` +
      `the app: pass appModule to new Worker() (e.g. appModule: './tasks.ts' or './tasks.ts:app'), or start it ` +
      `with \`celeriac -A ./tasks.ts worker -P ${pool}\``,
  );
}

function childOptions(pool: 'threads' | 'prefork', c: PoolContext) {
  return {
    size: c.concurrency,
    logger: c.logger,
    appModule: needsAppModule(pool, c),
    hostname: c.hostname,
    broker: c.broker,
    backend: c.backend,
    maxTasksPerChild: c.maxTasksPerChild,
    maxMemoryPerChild: c.maxMemoryPerChild,
    ...(c.onCapacityChange ? { onCapacityChange: c.onCapacityChange } : {}),
    ...(c.onFatal ? { onFatal: c.onFatal } : {}),
  };
}

/** The pools, by `-P` name. Fixed: nothing registers into it at run time (a pool child changes nothing here). */
const factories: ReadonlyMap<PoolName, PoolFactory> = new Map<PoolName, PoolFactory>([
  ['async', (c) => new AsyncPool('async', c.concurrency, c.logger)],
  ['solo', (c) => new AsyncPool('solo', 1, c.logger)],
  ['threads', async (c) => (await import('./threads.js')).createThreadsPool(childOptions('threads', c))],
  ['prefork', async (c) => (await import('./prefork.js')).createPreforkPool(childOptions('prefork', c))],
]);

/** Whether `name` is a built-in pool. */
export function isBuiltinPool(name: string): name is PoolName {
  return factories.has(name as PoolName);
}

export async function createPool(
  name: string,
  context: PoolContext,
  custom: Readonly<Record<string, PoolFactory>> = {},
): Promise<Pool> {
  const factory = isBuiltinPool(name)
    ? factories.get(name)
    : Object.hasOwn(custom, name)
      ? custom[name]
      : undefined;
  if (!factory) {
    const known = [...factories.keys(), ...Object.keys(custom)];
    throw new ImproperlyConfigured(`Pool "${name}" is not available: use one of ${known.join(', ')}`);
  }
  return factory(context);
}
