/** The shared stores' lease and fencing, on a real Redis and a real SQLite file: one test, run for both. */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../lifecycle/clock.js';
import { silentLogger } from '../../lifecycle/logger.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../../../test/support/redis.js';
import { tempDir } from '../../../test/support/tmp.js';
import { readBrokerOptions } from '../../brokers/redis/options.js';
import { RedisStore } from './redis-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { SharedStore } from './store.js';

const prefix = testPrefix('beat-stores');
const dir = tempDir('beat-stores');
const redis = testClient();
afterAll(async () => {
  await deletePrefix(redis, prefix);
  redis.disconnect();
  dir.remove();
});

const factories: Record<string, () => SharedStore> = {
  redis: () =>
    new RedisStore({
      url: REDIS_URL,
      setting: 'broker',
      connection: readBrokerOptions({}, () => undefined).connection,
      keyPrefix: prefix,
      schedule: 'app',
      leaseMs: 60_000,
      logger: silentLogger(),
    }),
  sqlite: () =>
    new SqliteStore(`sqlite://${join(dir.path, 'beat.db')}`, 'broker', 'app', 60_000, systemClock),
};

const run = { lastRunAt: Date.parse('2024-01-01T00:00:00Z'), totalRunCount: 1, definition: 'd' };

describe.each(Object.keys(factories))('%s shared store', (kind) => {
  it('one holder at a time; writes only while holding the lease; a released lease passes on', async () => {
    const a = factories[kind]!();
    const b = factories[kind]!();
    try {
      expect((await a.acquire()).acquired).toBe(true);
      expect((await a.acquire()).acquired).toBe(true); // renewal
      const refused = await b.acquire();
      expect(refused.acquired).toBe(false);
      expect(refused.retryInMs).toBeGreaterThan(50_000);
      expect(await a.save({ timezone: 'UTC', utcEnabled: true, entries: {} })).toBe(true);
      expect(await a.recordRun('tick', run)).toBe(true);
      expect(await b.recordRun('tick', { ...run, totalRunCount: 99 })).toBe(false);
      expect(await b.save({ timezone: 'X', utcEnabled: true, entries: {} })).toBe(false);
      await b.release(); // not b's: no effect
      expect((await b.acquire()).acquired).toBe(false);
      await a.release();
      expect((await b.acquire()).acquired).toBe(true);
      expect(await a.recordRun('tick', { ...run, totalRunCount: 2 })).toBe(false);
      expect(await b.load()).toEqual({ timezone: 'UTC', utcEnabled: true, entries: { tick: run } });
      await b.release();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
