/** `celeriac worker --time-limit/--soft-time-limit`: the worker-wide defaults, from the command line. */
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { runCli, startCli } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('cli-limits');
afterAll(() => dir.remove());
const db = `sqlite://${join(dir.path, 'celeriac.db')}`;
const env = { CELERIAC_BROKER_URL: db, CELERIAC_RESULT_BACKEND: db };
const APP = 'test/semantics/fixtures/limits-app.ts';

it('applies --soft-time-limit to tasks without their own limit', async () => {
  const worker = startCli(
    ['-A', APP, 'worker', '-l', 'info', '--soft-time-limit', '0.2', '--time-limit', '5'],
    { env },
  );
  try {
    await worker.waitFor(/ready\./);
    const client = new Celery('client', { broker: db, backend: db });
    client.logger = silentLogger();
    const result = await client.sendTask('limits.patient');
    await expect(result.get({ timeout: 20 })).rejects.toMatchObject({ excType: 'SoftTimeLimitExceeded' });
    await worker.waitFor(/Soft time limit \(0\.2s\) exceeded for limits\.patient/);
    await client.close();
  } finally {
    worker.kill('SIGTERM');
    expect(await worker.exited()).toBe(0);
  }
});

it('refuses a time limit that is not a positive number of seconds', async () => {
  const run = await runCli(['-A', APP, 'worker', '--time-limit', 'soon'], { env });
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('--time-limit must be a positive number of seconds, got "soon"');
});
