/** Compositions with `taskAlwaysEager`: run in this process, as Celery's `apply`. */
import { afterAll, expect, it } from 'vitest';
import { chain, chord, group } from '../../src/index.js';
import { createTestApp } from '../../src/testing/index.js';

const app = createTestApp({ taskAlwaysEager: true });
afterAll(() => app.close());
const add = app.task('t.add', (x: number, y: number) => x + y);
const tsum = app.task('t.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
const fail = app.task('t.fail', (_x: number): number => {
  throw new TypeError('eager boom');
});

it('runs a chain, a group and a chord eagerly', async () => {
  const c = await chain(add.s(1, 1), add.s(2), add.s(3)).applyAsync();
  expect(await c.get()).toBe(7);
  expect(await c.parent!.get()).toBe(4);
  expect(await (await group(add.s(1, 1), add.s(2, 2)).applyAsync()).get()).toEqual([2, 4]);
  expect(await (await chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync()).get()).toBe(6);
  expect(await (await chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()).applyAsync()).get()).toBe(7);
});

it('stops an eager chain at a failure, and a chord with a failing member throws it', async () => {
  const c = await chain(add.s(1, 1), fail.s(), add.s(3)).applyAsync();
  await expect(c.get()).rejects.toThrow('eager boom');
  await expect(chord([add.s(1, 1), fail.s(1)], tsum.s()).applyAsync()).rejects.toThrow('eager boom');
});
