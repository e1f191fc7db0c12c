/** The prefork pool: hard time limits, lost children, recycling, resizing (behaviours shared with the other pool). */
import { describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { Worker } from '../../src/worker/worker.js';
import { poolBehaviours, poolHarness } from './pool-behaviours.js';

poolBehaviours('prefork', poolHarness('prefork'));

describe('prefork pool without appModule', () => {
  it('refuses to start, saying what to pass', async () => {
    const app = new Celery('bare', { broker: 'memory://', backend: 'memory://' });
    const worker = new Worker(app, { pool: 'prefork', logger: silentLogger() });
    await expect(worker.start()).rejects.toThrow(/needs the module that exports the app: pass appModule/);
  });
});
