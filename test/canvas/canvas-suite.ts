/**
 * Canvas behaviour, table-driven and run once per driver (memory, SQLite, Redis broker + backend): every primitive,
 * the nested forms, and failures. Each test has its own app, queue and worker.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Celery } from '../../src/app/celery.js';
import { chain, chord, group, GroupResult, signature, Signature } from '../../src/index.js';
import { uuid } from '../../src/protocol/ids.js';
import { createTestApp, startTestWorker } from '../../src/testing/index.js';
import { States } from '../../src/types.js';

export interface CanvasDriver {
  readonly name: string;
  urls(): { broker: string; backend: string };
  cleanup?(): void | Promise<void>;
}

function tasksFor(app: Celery) {
  const errbacks: string[] = [];
  const waiters: (() => void)[] = [];
  return {
    errbacks,
    errbackCalled: () =>
      new Promise<void>((resolve) => (errbacks.length > 0 ? resolve() : waiters.push(resolve))),
    add: app.task('t.add', (x: number, y: number) => x + y),
    mul: app.task('t.mul', (x: number, y: number) => x * y),
    tsum: app.task('t.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0)),
    ident: app.task('t.ident', (value: unknown) => value),
    fail: app.task('t.fail', (_x?: unknown): number => {
      throw new TypeError('boom');
    }),
    onError: app.task('t.on_error', (taskId: string) => {
      errbacks.push(taskId);
      for (const resolve of waiters.splice(0)) resolve();
    }),
  };
}

export function canvasSuite(driver: CanvasDriver): void {
  describe(`canvas [${driver.name}]`, () => {
    const stops: (() => Promise<void>)[] = [];
    afterEach(async () => {
      await Promise.all(stops.splice(0).map((s) => s()));
    });
    afterAll(async () => {
      await driver.cleanup?.();
    });

    async function setup() {
      const queue = `canvas-${uuid().slice(0, 8)}`;
      const app = createTestApp({ ...driver.urls(), taskDefaultQueue: queue });
      const tasks = tasksFor(app);
      const { stop } = await startTestWorker(app, { concurrency: 8 });
      stops.push(async () => {
        await stop();
        await app.close();
      });
      return { app, ...tasks };
    }

    const T = { timeout: 15 };

    it('sends signatures: partial args are prepended, si ignores the parent result', async () => {
      const { add } = await setup();
      const partial = add.s(2);
      expect(partial.toDict()).toMatchObject({
        task: 't.add',
        args: [2],
        immutable: false,
        subtask_type: null,
      });
      expect(await (await partial.delay(5)).get(T)).toBe(7);
      expect(await (await add.si(1, 1).delay()).get(T)).toBe(2);
      const clone = partial.clone([3]);
      expect(clone.args).toEqual([3, 2]);
      expect(await (await clone.applyAsync()).get(T)).toBe(5);
    });

    it('round-trips a signature through its dict form and by name', async () => {
      const { app, add } = await setup();
      const back = Signature.fromDict(JSON.stringify(add.s(1, 2).set({ countdown: 0 })), app);
      expect(await (await back.applyAsync()).get(T)).toBe(3);
      const byName = signature('t.add', [4, 5]).bind(app);
      expect(await (await byName.delay()).get(T)).toBe(9);
      expect(await (await app.signature('t.add', [1, 1]).delay()).get(T)).toBe(2);
    });

    it('runs a chain; its result follows the last link and knows its parents', async () => {
      const { add, mul } = await setup();
      const c = chain(add.s(1, 2), mul.s(3), add.s(10));
      const result = await c.applyAsync();
      expect(await result.get(T)).toBe(19);
      expect(result.parent).not.toBeNull();
      expect(await result.parent!.get(T)).toBe(9);
      const piped = await add.s(2, 2).pipe(mul.s(5)).pipe(add.s(1)).delay();
      expect(await piped.get(T)).toBe(21);
    });

    it('runs a group and returns the results in order', async () => {
      const { add } = await setup();
      const g = group(Array.from({ length: 10 }, (_, i) => add.s(i, i)));
      const result = await g.applyAsync();
      expect(result).toBeInstanceOf(GroupResult);
      expect(await result.get(T)).toEqual(Array.from({ length: 10 }, (_, i) => 2 * i));
      expect(await result.completedCount()).toBe(10);
      expect(await result.ready()).toBe(true);
      expect(await result.successful()).toBe(true);
      expect(await result.failed()).toBe(false);
    });

    it('saves and restores a GroupResult', async () => {
      const { app, add } = await setup();
      const result = await group(add.s(1, 1), add.s(2, 2)).applyAsync();
      await result.save();
      const restored = await app.GroupResult.restore<number[]>(result.id);
      expect(restored?.results.map((r) => r.id)).toEqual(result.results.map((r) => r.id));
      expect(await restored!.get(T)).toEqual([2, 4]);
      await restored!.delete();
      expect(await app.GroupResult.restore(result.id)).toBeNull();
    });

    it('runs a chord: the body gets the header results in header order', async () => {
      const { add, tsum } = await setup();
      const result = await chord(
        Array.from({ length: 20 }, (_, i) => add.s(i, i)),
        tsum.s(),
      ).applyAsync();
      expect(await result.get(T)).toBe(380);
      expect(result.parent).toBeInstanceOf(GroupResult);
      const ident = await chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)])(tsum.s());
      expect(await ident.get(T)).toBe(12);
    });

    it('runs a chord with an empty header: the body gets []', async () => {
      const { tsum } = await setup();
      const result = await chord([], tsum.s()).applyAsync();
      expect(await result.get(T)).toBe(0);
    });

    it('fails the body of a chord with a failing member (ChordError naming it) and calls its errback', async () => {
      const { add, fail, tsum, onError, errbacks, errbackCalled } = await setup();
      const failing = fail.s(1);
      const failingId = uuid();
      failing.set({ taskId: failingId });
      const body = tsum.s().linkError(onError.s());
      const result = await chord([add.s(1, 1), failing, add.s(2, 2)], body).applyAsync();
      await expect(result.get(T)).rejects.toMatchObject({ excType: 'ChordError' });
      const error = (await result.result()) as Error;
      expect(error.message).toContain(failingId);
      await errbackCalled();
      expect(errbacks).toEqual([result.id]);
      expect(await result.state()).toBe(States.FAILURE);
    });

    it('marks the rest of a failed chain FAILURE, so get() rejects', async () => {
      const { add, fail, mul } = await setup();
      const result = await chain(add.s(1, 1), fail.s(), mul.s(2)).applyAsync();
      await expect(result.get(T)).rejects.toMatchObject({ excType: 'TypeError' });
    });

    it('rejects get() on a group of chains when one chain fails', async () => {
      const { add, fail, mul } = await setup();
      const result = await group(
        chain(add.s(1, 1), mul.s(2)),
        chain(add.s(1, 1), fail.s(), mul.s(2)),
      ).applyAsync();
      await expect(result.get(T)).rejects.toMatchObject({ excType: 'TypeError' });
    });

    it('calls the errback of a chain when a nested link fails', async () => {
      const { add, fail, onError, errbacks, errbackCalled } = await setup();
      const failing = fail.s();
      const id = uuid();
      failing.set({ taskId: id });
      const c = chain(add.s(1, 1), failing).linkError(onError.s());
      await c.applyAsync();
      await errbackCalled();
      expect(errbacks).toEqual([id]);
    });

    it('calls the errback of a group for the member that failed', async () => {
      const { add, fail, onError, errbacks, errbackCalled } = await setup();
      const failing = fail.s(1);
      const id = uuid();
      failing.set({ taskId: id });
      const result = await group(add.s(1, 1), failing).linkError(onError.s()).applyAsync();
      await expect(result.get(T)).rejects.toMatchObject({ excType: 'TypeError' });
      await errbackCalled();
      expect(errbacks).toEqual([id]);
    });

    it('upgrades a group followed by a task in a chain to a chord', async () => {
      const { add, tsum } = await setup();
      const result = await chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()).applyAsync();
      expect(await result.get(T)).toBe(7);
      const piped = await group(add.s(1, 1), add.s(2, 2)).pipe(tsum.s()).applyAsync();
      expect(await piped.get(T)).toBe(6);
    });

    it('runs a chord in a chain, continuing after the body', async () => {
      const { add, tsum, mul } = await setup();
      const result = await chain(add.s(1, 1), chord([add.s(10), add.s(20)], tsum.s()), mul.s(2)).applyAsync();
      expect(await result.get(T)).toBe(68);
    });

    it('runs a group of chains and a chain of groups', async () => {
      const { add, mul, tsum } = await setup();
      const gc = await group(chain(add.s(1, 1), mul.s(10)), chain(add.s(2, 2), mul.s(10))).applyAsync();
      expect(await gc.get(T)).toEqual([20, 40]);
      const cg = await chain(
        group(add.s(1, 1), add.s(2, 2)),
        tsum.s(),
        group(add.s(1), add.s(2)),
      ).applyAsync();
      expect(await cg.get(T)).toEqual([7, 8]);
    });

    it('runs a chord whose header holds chains', async () => {
      const { add, mul, tsum } = await setup();
      const result = await chord([chain(add.s(1, 1), mul.s(10)), add.s(5, 5)], tsum.s()).applyAsync();
      expect(await result.get(T)).toBe(30);
    });

    it('runs a group of chords and a chord whose header holds a chord', async () => {
      const { add, tsum } = await setup();
      const gc = await group(
        chord([add.s(1, 1), add.s(2, 2)], tsum.s()),
        chord([add.s(3, 3), add.s(4, 4)], tsum.s()),
      ).applyAsync();
      expect(await gc.get(T)).toEqual([6, 14]);
      const nested = await chord(
        [chord([add.s(1, 1), add.s(2, 2)], tsum.s()), add.s(3, 3)],
        tsum.s(),
      ).applyAsync();
      expect(await nested.get(T)).toBe(12);
    });

    it('calls the link of a chain with its last result and the link of a chord with its body result', async () => {
      const { app, add, tsum, ident } = await setup();
      const afterChain = ident.s().set({ taskId: uuid() });
      await chain(add.s(1, 1), add.s(10)).link(afterChain).applyAsync();
      expect(await app.AsyncResult(afterChain.id!).get(T)).toBe(12);
      const afterChord = ident.s().set({ taskId: uuid() });
      await chord([add.s(1, 1), add.s(2, 2)], tsum.s())
        .link(afterChord)
        .applyAsync();
      expect(await app.AsyncResult(afterChord.id!).get(T)).toBe(6);
    });

    it('runs a group followed by a group (a chord with a group body) and group -> chain -> group', async () => {
      const { add, tsum } = await setup();
      const gg = await chain(group(add.s(1, 1), add.s(2, 2)), group(tsum.s(), tsum.s())).applyAsync();
      expect(await gg.get(T)).toEqual([6, 6]);
      const gcg = await group(chain(add.s(1, 1), group(add.s(1), add.s(2))), add.s(5, 5)).applyAsync();
      expect(await gcg.get(T)).toEqual([[3, 4], 10]);
    });

    it('runs map, starmap and chunks', async () => {
      const { add, ident } = await setup();
      expect(await (await ident.map([1, 'a', null]).delay()).get(T)).toEqual([1, 'a', null]);
      expect(
        await (
          await add
            .starmap([
              [1, 2],
              [3, 4],
            ])
            .delay()
        ).get(T),
      ).toEqual([3, 7]);
      const chunks = await add
        .chunks(
          Array.from({ length: 5 }, (_, i) => [i, i] as [number, number]),
          2,
        )
        .applyAsync();
      expect(await chunks.get(T)).toEqual([[0, 2], [4, 6], [8]]);
    });

    it("runs Python's celery.chord_unlock: it polls the header until it is ready, then sends the body", async () => {
      const { app, add, tsum } = await setup();
      const header = await group(add.s(1, 1).set({ countdown: 0.3 }), add.s(2, 2)).applyAsync();
      const body = tsum.s();
      const bodyId = uuid();
      body.set({ taskId: bodyId });
      // What Celery sends for backends without a native counter (celery/backends/base.py fallback_chord_unlock).
      await app.sendTask('celery.chord_unlock', [header.id, body.toDict()], {
        interval: 0.05,
        max_retries: null,
        result: header.results.map((r) => r.asTuple()),
      });
      expect(await app.AsyncResult(bodyId).get(T)).toBe(6);
    });

    it('fails the body from celery.chord_unlock when a header member failed', async () => {
      const { app, add, fail, tsum, onError, errbacks, errbackCalled } = await setup();
      const header = await group(add.s(1, 1), fail.s(1)).applyAsync();
      const body = tsum.s().linkError(onError.s());
      const bodyId = uuid();
      body.set({ taskId: bodyId });
      await app.sendTask('celery.chord_unlock', [header.id, body.toDict()], {
        interval: 0.05,
        max_retries: null,
        result: header.results.map((r) => r.asTuple()),
      });
      await expect(app.AsyncResult(bodyId).get(T)).rejects.toMatchObject({ excType: 'ChordError' });
      await errbackCalled();
      expect(errbacks).toEqual([bodyId]);
    });
  });
}
