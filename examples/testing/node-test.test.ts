/** Runs the node:test example of docs/tasks.md in its own process, as a user would. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('passes under node --test', () => {
  const file = fileURLToPath(new URL('./with-node-test.ts', import.meta.url));
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', file], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.stdout).toMatch(/# pass 1/);
  expect(run.status).toBe(0);
});
