/** The threads pool: hard time limits, lost children, recycling, resizing (behaviours shared with the other pool). */
import { describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { Worker } from '../../src/worker/worker.js';
import { poolBehaviours, poolHarness } from './pool-behaviours.js';

poolBehaviours('threads', poolHarness('threads'));

describe('threads pool without appModule', () => {
  it('refuses to start, saying what to pass', async () => {
    const app = new Celery('bare', { broker: 'memory://', backend: 'memory://' });
    const worker = new Worker(app, { pool: 'threads', logger: silentLogger() });
    await expect(worker.start()).rejects.toThrow(/needs the module that exports the app: pass appModule/);
  });

  it('refuses to start when its children cannot load the app module, with their error', async () => {
    const app = new Celery('bare', { broker: 'memory://', backend: 'memory://' });
    const worker = new Worker(app, {
      pool: 'threads',
      concurrency: 1,
      appModule: './no/such/tasks.ts',
      logger: silentLogger(),
    });
    await expect(worker.start()).rejects.toThrow(
      /The threads pool could not start its children: appModule \S+no\/such\/tasks.ts: no such file or package/,
    );
  });
});
