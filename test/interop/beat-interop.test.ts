/**
 * Beat across languages, on Redis: Celeriac's beat drives a Python Celery 5.2.6 worker, and Python's `celery beat`
 * drives a Celeriac worker. Beat messages are ordinary task messages; each side waits for the task's record.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Beat, Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { watchProcess } from '../support/processes.js';
import { PYTHON, PYTHON_DIR, startPythonWorker } from '../support/python.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

const prefix = testPrefix('beat-interop');
const queue = `beat-interop-${uuid().slice(0, 8)}`;
const env = { INTEROP_BROKER: REDIS_URL, INTEROP_PREFIX: prefix, INTEROP_QUEUE: queue };
Object.assign(process.env, env);
const { app: tsApp, closeRecorder } = await import('./fixtures/interop-app.js');
const { Worker } = await import('../../src/index.js');

const redis = testClient();
const dir = tempDir('beat-interop');

afterAll(async () => {
  await closeRecorder();
  await deletePrefix(redis, prefix);
  redis.disconnect();
  dir.remove();
});

/** Waits for interop.mark(label) to have run (it pushes the label to the recorder's `order` list). */
async function marked(label: string): Promise<void> {
  for (;;) {
    const reply = await redis.blpop(`${prefix}order`, 20);
    if (!reply) throw new Error(`interop.mark(${label}) did not run within 20 s`);
    if (reply[1] === label) return;
  }
}

describe('beat interop', () => {
  it('Celeriac beat drives a Python Celery worker', async () => {
    const worker = await startPythonWorker({ env, queues: [queue], name: 'py-beat' });
    const app = new Celery('ts-beat', {
      broker: REDIS_URL,
      backend: REDIS_URL,
      brokerTransportOptions: { global_keyprefix: prefix },
      taskDefaultQueue: queue,
      beatSchedule: { mark: { task: 'interop.mark', schedule: 1, args: ['from-celeriac-beat'] } },
    });
    const beat = new Beat(app, { logger: silentLogger(), scheduleFilename: join(dir.path, 'ts.json') });
    try {
      await beat.start();
      await marked('from-celeriac-beat');
      await worker.waitFor(/Task interop\.mark\[[0-9a-f-]+\] succeeded in .*: 'from-celeriac-beat'/);
    } finally {
      await beat.stop();
      await app.close();
      await worker.stop();
    }
  }, 40_000);

  it("Python's celery beat drives a Celeriac worker", async () => {
    tsApp.logger = silentLogger();
    const worker = new Worker(tsApp, { queues: [queue], pool: 'solo', logger: silentLogger() });
    await worker.start();
    const child = spawn(
      PYTHON,
      ['-m', 'celery', '-A', 'interop_app', 'beat', '-l', 'info', '-s', join(dir.path, 'py')],
      {
        cwd: PYTHON_DIR,
        env: { ...process.env, ...env, INTEROP_BEAT_LABEL: 'from-python-beat', PYTHONUNBUFFERED: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const beat = watchProcess(child, 30_000);
    try {
      await marked('from-python-beat');
      expect(beat.output()).toMatch(/Scheduler: Sending due task py-beat-mark \(interop\.mark\)/);
    } finally {
      beat.kill('SIGTERM');
      await beat.exited();
      await worker.stop();
    }
  }, 40_000);
});
