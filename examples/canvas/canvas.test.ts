/** Runs every example of docs/canvas.md against a real worker. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger, startTestWorker, type TestWorker } from 'celeriac/testing';
import * as canvas from './canvas.js';

let worker: TestWorker;
beforeAll(async () => {
  canvas.app.logger = silentLogger();
  worker = await startTestWorker(canvas.app, { concurrency: 8 });
});
afterAll(() => worker.stop());

it('signatures', async () => {
  expect(await canvas.signatures()).toEqual([4, 10, 4, 4, 4, 2]);
});

it('callbacks', async () => {
  expect(await canvas.callbacks()).toEqual([4, 20]);
});

it('chains', async () => {
  expect(await canvas.chains()).toEqual(['n=64', 64, 'n=64']);
});

it('groups', async () => {
  expect(await canvas.groups()).toEqual({
    values: [0, 2, 4, 6, 8, 10, 12, 14, 16, 18],
    done: 10,
    same: 10,
  });
});

it('chords', async () => {
  expect(await canvas.chords()).toEqual([90, 7, 6]);
});

it('errors', async () => {
  expect(await canvas.errors()).toEqual(['ChordError', 'TypeError']);
});

it('map, starmap and chunks', async () => {
  expect(await canvas.mapsAndChunks()).toEqual([
    [1, 4, 9],
    ['n=1', 'n=2'],
    [
      [0, 2, 4, 6],
      [8, 10, 12, 14],
      [16, 18],
    ],
  ]);
});
