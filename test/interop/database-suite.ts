/**
 * Python Celery 5.2.6's database backend and Celeriac's, on the same tables: a Celeriac worker stores success and
 * failure and Python reads them (`AsyncResult.get()`), a Python worker stores them and Celeriac reads them, with
 * and without result_extended; groups saved by one are restored by the other. Broker: Redis (own prefix/queues).
 * Each test file runs this suite for one database, with its own database; the app fixtures read INTEROP_* at import.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Celery as CeleryType } from '../../src/index.js';
import { uuid } from '../../src/protocol/ids.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';
import {
  PYTHON,
  PYTHON_DIR,
  runPythonPlan,
  startPythonWorker,
  type PythonWorker,
} from '../support/python.js';
import { spawnSync } from 'node:child_process';

export interface DatabaseInterop {
  name: string;
  /** Creates the database; returns the URL both sides use, and how to drop it. */
  setup(): Promise<{ url: string; drop(): Promise<void> }>;
}

export async function databaseInteropSuite(options: DatabaseInterop): Promise<void> {
  const prefix = testPrefix(`interop-db-${options.name}`);
  const queue = `interop-db-${uuid().slice(0, 8)}`;
  const db = await options.setup();
  const env = {
    INTEROP_BROKER: REDIS_URL,
    INTEROP_BACKEND: db.url,
    INTEROP_PREFIX: prefix,
    INTEROP_QUEUE: queue,
    INTEROP_RESULT_EXTENDED: '1',
  };
  Object.assign(process.env, env);
  const { app, closeRecorder } = (await import('./fixtures/interop-app.js')) as {
    app: CeleryType;
    closeRecorder: () => Promise<void>;
  };
  const { Worker, Celery } = await import('../../src/index.js');
  const { silentLogger } = await import('../../src/lifecycle/logger.js');
  app.logger = silentLogger();
  const plain = new Celery('interop-plain', { broker: REDIS_URL, backend: db.url, resultExtended: false });
  plain.logger = silentLogger();
  const redis = testClient();
  let python: PythonWorker | undefined;

  beforeAll(async () => {
    await app.getBackend();
  });

  afterAll(async () => {
    await python?.stop();
    await Promise.all([app.close(), plain.close(), closeRecorder()]);
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await db.drop();
  });

  it('a Celeriac worker stores success and failure; Python reads them, extended and not', async () => {
    const worker = new Worker(app, {
      queues: [queue],
      pool: 'solo',
      logger: silentLogger(),
      hostname: 'ts-db@%h',
    });
    await worker.start();
    try {
      for (const extended of ['1', '0']) {
        const report = await runPythonPlan(
          {
            send: [
              { ref: 'ok', task: 'interop.add', args: [2, 3] },
              { ref: 'bad', task: 'interop.fail', args: ['boom'] },
            ],
            get: [{ ref: 'ok' }, { ref: 'bad' }],
          },
          { ...env, INTEROP_RESULT_EXTENDED: extended },
        );
        expect(report.got.ok).toMatchObject({ ok: true, result: 5, status: 'SUCCESS' });
        expect(report.got.bad).toMatchObject({
          ok: false,
          type: 'ValueError',
          message: 'boom',
          status: 'FAILURE',
        });
        // The worker stores the result_extended columns; a Python client reads them when its result_extended is on.
        if (extended === '1') {
          expect(report.got.ok).toMatchObject({ name: 'interop.add', args: [2, 3], kwargs: {}, queue });
          expect(report.got.ok?.worker).toMatch(/^ts-db@/);
        }
      }
    } finally {
      await worker.stop();
    }
  });

  it('a Python worker stores success and failure; Celeriac reads them, extended and not', async () => {
    for (const extended of ['1', '0']) {
      python = await startPythonWorker({
        env: { ...env, INTEROP_RESULT_EXTENDED: extended },
        queues: [queue],
        name: `py-db-${extended}`,
      });
      const ok = await app.sendTask('interop.add', [20, 22], {}, { queue });
      const bad = await app.sendTask('interop.fail', ['kaput'], {}, { queue });
      expect(await ok.get({ timeout: 30 })).toBe(42);
      const error = await bad.get({ timeout: 30, propagate: false });
      expect(error).toMatchObject({ name: 'RemoteTaskError', excType: 'ValueError', excModule: 'builtins' });
      expect((error as { remoteMessage: string }).remoteMessage).toBe('kaput');
      const meta = await ok.meta();
      if (extended === '1')
        expect(meta).toMatchObject({ name: 'interop.add', args: [20, 22], kwargs: {}, queue });
      else expect(meta.name).toBeUndefined();
      const failed = await bad.meta();
      expect(failed.result).toEqual({
        exc_type: 'ValueError',
        exc_message: ['kaput'],
        exc_module: 'builtins',
      });
      expect(failed.traceback).toContain('ValueError: kaput');
      await python.stop();
      python = undefined;
    }
  });

  it('reads a group Python saved, and Python restores a group Celeriac saved', async () => {
    const backend = await plain.getBackend();
    const [a, b] = [uuid(), uuid()];
    const pyGroup = uuid();
    const script = [
      'from interop_app import app',
      'import sys',
      `g = app.GroupResult('${pyGroup}', [app.AsyncResult('${a}'), app.AsyncResult('${b}')])`,
      'g.save()',
    ].join('\n');
    const saved = spawnSync(PYTHON, ['-c', script], { cwd: PYTHON_DIR, env: { ...process.env, ...env } });
    expect(saved.status, saved.stderr.toString()).toBe(0);
    expect(await backend.getGroup(pyGroup)).toEqual({
      result: [
        [pyGroup, null],
        [
          [[a, null], null],
          [[b, null], null],
        ],
      ],
    });
    const tsGroup = uuid();
    await backend.saveGroup(tsGroup, {
      result: [
        [tsGroup, null],
        [
          [[a, null], null],
          [[b, [[a, null], null]], null],
        ],
      ] as never,
    });
    const restore = [
      'from interop_app import app',
      `g = app.GroupResult.restore('${tsGroup}')`,
      'print(type(g).__name__, g.id, [r.id for r in g.results], g.results[1].parent.id)',
    ].join('\n');
    const restored = spawnSync(PYTHON, ['-c', restore], { cwd: PYTHON_DIR, env: { ...process.env, ...env } });
    expect(restored.status, restored.stderr.toString()).toBe(0);
    expect(restored.stdout.toString().trim()).toBe(`GroupResult ${tsGroup} ['${a}', '${b}'] ${a}`);
  });
}
