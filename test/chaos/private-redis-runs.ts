/**
 * The set-up the Redis chaos test files share: a private redis-server for the file, and `newRun()` for a ChaosRun
 * on it, closed after each test. (A file of its own: the harness is also used outside vitest, by `npm run chaos`.)
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { PrivateRedis } from '../support/redis.js';
import { ChaosRun, privateRedis } from './harness.js';

export interface PrivateRedisRuns {
  /** The file's redis-server (to kill and launch it again). */
  readonly redis: () => PrivateRedis;
  /** A run against it, with this visibility timeout in seconds. */
  readonly newRun: () => ChaosRun;
}

export function privateRedisRuns(visibilitySeconds: number): PrivateRedisRuns {
  let redis: PrivateRedis | undefined;
  const runs: ChaosRun[] = [];
  beforeAll(async () => {
    redis = await privateRedis();
  });
  afterEach(async () => {
    for (const run of runs.splice(0)) await run.close();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const started = (): PrivateRedis => {
    if (!redis) throw new Error('the private Redis is not started yet (use it inside a test)');
    return redis;
  };
  return {
    redis: started,
    newRun: () => {
      const run = new ChaosRun({
        broker: started().url,
        env: { CHAOS_VISIBILITY: String(visibilitySeconds) },
      });
      runs.push(run);
      return run;
    },
  };
}
