/**
 * Celery's `install_default_entries`: beat adds `celery.backend_cleanup` daily at 04:00 for a result backend that
 * does not expire results itself (the database backend), and not for one that does.
 */
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { tempDir } from '../../test/support/tmp.js';
import { Celery } from '../app/celery.js';
import { silentLogger } from '../lifecycle/logger.js';
import { Beat } from './beat.js';

const dir = tempDir('beat-cleanup');
afterAll(() => dir.remove());

async function entriesWith(backend: string): Promise<string[]> {
  const app = new Celery('beat-cleanup', { broker: 'memory://', backend, resultExpires: 3600 });
  app.logger = silentLogger();
  const beat = new Beat(app, {
    logger: silentLogger(),
    scheduleFilename: join(dir.path, `${Math.random()}.json`),
  });
  try {
    await beat.start();
    return beat.entries.map((e) => e.name);
  } finally {
    await beat.stop();
    await app.close();
  }
}

it('schedules celery.backend_cleanup for the database backend only', async () => {
  expect(await entriesWith(`db+sqlite:///${join(dir.path, 'results.db')}`)).toContain(
    'celery.backend_cleanup',
  );
  expect(await entriesWith('memory://')).not.toContain('celery.backend_cleanup');
});
