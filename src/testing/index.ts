/**
 * `celeriac/testing`: helpers for your own test suites (vitest, node:test, jest), as Celery's pytest fixtures
 * (`celery.contrib.pytest`: `celery_app`, `celery_worker`; `celery.contrib.testing.worker.start_worker`).
 *
 *   const app = createTestApp();                    // in-memory broker and backend, private to this app
 *   const add = app.task('add', (x: number, y: number) => x + y);
 *   const { stop } = await startTestWorker(app);    // a real worker, in this process
 *   expect(await (await add.delay(2, 2)).get({ timeout: 5 })).toBe(4);
 *   await stop();
 *
 * For tests that should not involve a worker at all, `createTestApp({ taskAlwaysEager: true })` runs every
 * `applyAsync`/`delay` in place (see docs/tasks.md, "Testing").
 */
import { Celery } from '../app/celery.js';
// Installs the canvas port (app/canvas-port.ts), as src/index.ts does, for tests that import only this entry.
import '../canvas/port.js';
import '../events/port.js';
import type { CeleryOptions } from '../app/config.js';
import { createLogger, silentLogger, type LogLevel } from '../lifecycle/logger.js';
import { uuid } from '../protocol/ids.js';
import { Worker, type WorkerOptions } from '../worker/worker.js';

export interface TestAppOptions extends CeleryOptions {
  /** The app's name (the `main` of `new Celery(main)`), default `test`. */
  name?: string;
  /** Log level of the app and its workers; default silent. */
  logLevel?: LogLevel;
}

/**
 * An app on a fresh in-memory broker and result backend that no other app shares (Celery's `celery_app`
 * fixture). Any option may be overridden, including `broker` and `backend` (for example an SQLite file).
 */
export function createTestApp(options: TestAppOptions = {}): Celery {
  const { name = 'test', logLevel, ...rest } = options;
  const space = `test-${uuid()}`;
  const app = new Celery(name, { broker: `memory://${space}`, backend: `memory://${space}`, ...rest });
  app.logger = logLevel ? createLogger({ level: logLevel }) : silentLogger();
  return app;
}

export interface TestWorker {
  readonly worker: Worker;
  /** Stops the worker (warm: running tasks finish) and closes the app's connections. Idempotent. */
  readonly stop: () => Promise<void>;
}

/**
 * Starts a worker for `app` in this process and resolves once it consumes (Celery's `celery_worker` fixture and
 * `start_worker`). Defaults suit tests: the app's logger, a node name unique to the test, the async pool.
 */
export async function startTestWorker(app: Celery, options: WorkerOptions = {}): Promise<TestWorker> {
  const worker = new Worker(app, {
    hostname: `test-${uuid().slice(0, 8)}@localhost`,
    logger: options.logger ?? app.logger,
    ...options,
  });
  await worker.start();
  return { worker, stop: () => worker.stop() };
}

export { silentLogger };
