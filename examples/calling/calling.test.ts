/** Runs every example of docs/calling.md against a real worker. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger, startTestWorker, type TestWorker } from 'celeriac/testing';
import * as calling from './calling.js';

let worker: TestWorker;
beforeAll(async () => {
  calling.app.logger = silentLogger();
  worker = await startTestWorker(calling.app, { queues: ['celery', 'feeds', 'big-images', 'video'] });
});
afterAll(() => worker.stop());

it('basics: delay, applyAsync, apply and sendTask', async () => {
  expect(await calling.basics()).toEqual([4, 4, 4, 4]);
  expect(await calling.many()).toEqual([2, 4, 6, 20, 24]);
});

it('linking: link and linkError', async () => {
  const failure = await calling.linking();
  expect(failure.sum).toBe(4);
  expect(failure.logged).toBe(4);
  expect(failure.errback).toEqual(expect.any(String));
});

it('ETA, countdown and expiration', async () => {
  expect(await calling.timing()).toEqual(['PENDING', 'PENDING', 'REVOKED', 'SUCCESS']);
});

it('serializers, compression, headers, routing, priority and ignoreResult', async () => {
  expect(await calling.options()).toEqual([7, 7, 24, 'resized huge', true]);
});
