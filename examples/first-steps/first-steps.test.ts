/** Runs the getting-started walkthrough: a worker process, then calls from code and from the CLI. */
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runCli, startCli } from '../../test/support/processes.js';
import { tempDir } from '../../test/support/tmp.js';

const dir = tempDir('first-steps');
afterAll(() => dir.remove());

it('follows docs/getting-started.md', async () => {
  const url = `sqlite://${join(dir.path, 'celeriac.db')}`;
  const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
  const worker = startCli(['-A', 'examples/first-steps/tasks.ts', 'worker', '-l', 'info'], { env });
  try {
    await worker.waitFor(/ready\./);
    process.env.CELERIAC_BROKER_URL = url;
    process.env.CELERIAC_RESULT_BACKEND = url;
    const { app, add } = await import('./tasks.js');
    const result = await add.delay(4, 4);
    expect(await result.ready()).toBeTypeOf('boolean');
    expect(await result.get({ timeout: 10 })).toBe(8);
    expect(await result.successful()).toBe(true);
    await app.close();
    const call = await runCli(
      ['-A', 'examples/first-steps/tasks.ts', 'call', 'tasks.add', '--args', '[2, 3]', '--wait'],
      { env },
    );
    expect(call.stdout.trim().split('\n').at(-1)).toBe('5');
  } finally {
    worker.kill('SIGTERM');
    expect(await worker.exited()).toBe(0);
    delete process.env.CELERIAC_BROKER_URL;
    delete process.env.CELERIAC_RESULT_BACKEND;
  }
});
