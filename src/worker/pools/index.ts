/** Creates the pool named by `-P` / `workerPool`. */
import type { PoolName } from '../../app/config.js';
import { ImproperlyConfigured } from '../../errors.js';
import type { Logger } from '../../lifecycle/logger.js';
import { AsyncPool } from './async-pool.js';
import type { Pool } from './pool.js';

export interface PoolContext {
  readonly concurrency: number;
  readonly logger: Logger;
}

type PoolFactory = (context: PoolContext) => Pool | Promise<Pool>;

const factories = new Map<PoolName, PoolFactory>([
  ['async', (c) => new AsyncPool('async', c.concurrency, c.logger)],
  ['solo', (c) => new AsyncPool('solo', 1, c.logger)],
]);

export function registerPool(name: PoolName, factory: PoolFactory): void {
  factories.set(name, factory);
}

export async function createPool(name: PoolName, context: PoolContext): Promise<Pool> {
  const factory = factories.get(name);
  if (!factory) {
    throw new ImproperlyConfigured(
      `Pool "${name}" is not available: use one of ${[...factories.keys()].join(', ')}`,
    );
  }
  return factory(context);
}
