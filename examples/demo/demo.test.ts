/** The demo is part of the test suite: it must run with no servers and exit 0. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('runs the demo end to end on the embedded SQLite default', () => {
  const demo = fileURLToPath(new URL('./demo.ts', import.meta.url));
  const run = spawnSync(process.execPath, ['--import', 'tsx', demo], {
    env: { ...process.env, DEMO_TASKS: '60', CELERIAC_BROKER_URL: '', CELERIAC_RESULT_BACKEND: '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.stderr).not.toMatch(/Error/);
  expect(run.status).toBe(0);
  expect(run.stdout).toContain('add(3, 3)             -> 6');
  expect(run.stdout).toMatch(/60 tasks sent, run and returned in/);
});
