/**
 * `npm run demo`: a worker on an embedded SQLite database in a temporary directory, a few hundred tasks sent with
 * a progress bar, their results and the throughput. No server needed; exits 0 when everything came back.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { progress } from './progress.js';

const COUNT = Number(process.env.DEMO_TASKS ?? 300);
const dir = mkdtempSync(join(tmpdir(), 'celeriac-demo-'));
const url = `sqlite://${join(dir, 'celeriac.db')}`;
process.env.CELERIAC_BROKER_URL = url;
process.env.CELERIAC_RESULT_BACKEND = url;

const { app, add, wordCount, fetchLike } = await import('./tasks.js');
const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
const tasksModule = fileURLToPath(new URL('./tasks.ts', import.meta.url));

console.log(`Celeriac demo: broker and results in ${url}`);
const worker = spawn(process.execPath, [bin, '-A', tasksModule, 'worker', '-c', '16', '-l', 'error'], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: process.env,
});
const workerExit = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));

try {
  const started = performance.now();
  const sending = progress('sent', COUNT);
  const results = [];
  for (let i = 0; i < COUNT; i++) {
    if (i % 3 === 0) results.push(await add.delay(i, i));
    else if (i % 3 === 1) results.push(await wordCount.delay(`task number ${i} says hello`));
    else results.push(await fetchLike.delay(i));
    sending.tick(i + 1);
  }
  sending.end();
  const receiving = progress('done', COUNT);
  let done = 0;
  const values = await Promise.all(
    results.map(async (result) => {
      const value = await result.get({ timeout: 60 });
      receiving.tick(++done);
      return value;
    }),
  );
  receiving.end();
  const seconds = (performance.now() - started) / 1000;
  console.log(`add(3, 3)             -> ${JSON.stringify(values[3])}`);
  console.log(`word_count("...")     -> ${JSON.stringify(values[1])}`);
  console.log(`fetch_like(2)         -> ${JSON.stringify(values[2])}`);
  console.log(
    `${COUNT} tasks sent, run and returned in ${seconds.toFixed(2)} s (${Math.round(COUNT / seconds)} tasks/s, round trip through SQLite)`,
  );
  console.log('Next: see README.md for the CLI, Redis and RabbitMQ.');
} finally {
  await app.close();
  worker.kill('SIGTERM');
  const code = await workerExit;
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0) {
    console.error(`worker exited with code ${code}`);
    process.exitCode = 1;
  }
}
