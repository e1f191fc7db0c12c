/**
 * Revokes kept where every process reads them: `app.control.revoke()` stores REVOKED in a shared, persistent
 * result backend (SQLite here; Redis and the database backend alike), so a worker that starts after the revoke was
 * broadcast (to nobody) still does not run the task when its ETA comes. Celery loses such a revoke.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Celery, Worker } from '../../src/index.js';
import { tempDir } from '../support/tmp.js';

describe('persistent revokes', () => {
  const dir = tempDir('persistent-revoke');
  afterAll(() => dir.remove());

  it('a worker started after the revoke does not run the countdown task', async () => {
    const broker = `sqlite://${join(dir.path, 'broker.db')}`;
    const backend = `sqlite://${join(dir.path, 'results.db')}`;
    const app = new Celery('persistent-revoke', { broker, backend });
    const ran: string[] = [];
    const mark = app.task('pr.mark', (label: string) => {
      ran.push(label);
      return label;
    });
    const revoked = await mark.applyAsync(['revoked'], {}, { countdown: 2 });
    const kept = await mark.applyAsync(['kept'], {}, { countdown: 2 });
    await app.control.revoke(revoked.id);
    expect(await revoked.state()).toBe('REVOKED');
    const worker = new Worker(app, { pool: 'async', hostname: 'pr@test', mingle: false });
    await worker.start();
    try {
      expect(await kept.get({ timeout: 30 })).toBe('kept');
      await expect.poll(() => worker.workerState?.processed, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      // The revoked one was handed to the executor at its ETA like the kept one, and discarded there.
      await expect.poll(() => ran, { timeout: 10_000 }).toEqual(['kept']);
      expect(await revoked.state()).toBe('REVOKED');
    } finally {
      await worker.stop();
      await app.close();
    }
  });
});
