/** Eager mode: task.apply(), taskAlwaysEager, taskEagerPropagates, taskStoreEagerResult, on every driver. */
import { expect, it } from 'vitest';
import { currentTask } from '../../src/app/current-task.js';
import type { TaskRequest } from '../../src/app/context.js';
import { EncodeError, MaxRetriesExceededError } from '../../src/errors.js';
import { EagerResult } from '../../src/result/eager-result.js';
import { States } from '../../src/types.js';
import { onEveryDriver } from './harness.js';

class Flaky extends Error {
  override name = 'Flaky';
}

onEveryDriver('eager', ({ makeApp }) => {
  it('apply() runs the task here and returns an EagerResult, with hooks and handlers as in a worker', async () => {
    const app = makeApp();
    const log: string[] = [];
    app.hooks.on('taskPrerun', () => void log.push('taskPrerun'));
    app.hooks.on('taskSuccess', () => void log.push('taskSuccess'));
    app.hooks.on('taskPostrun', ({ state }) => void log.push(`taskPostrun:${state}`));
    let seen: TaskRequest | undefined;
    const add = app.task(
      'eager.add',
      (x: number, y: number) => {
        seen = currentTask().request;
        return x + y;
      },
      { onSuccess: () => void log.push('onSuccess') },
    );
    const result = await add.apply([2, 3], {}, { headers: { 'x-h': 1 } });
    expect(result).toBeInstanceOf(EagerResult);
    expect(result.status).toBe(States.SUCCESS);
    expect(await result.get()).toBe(5);
    expect(await result.ready()).toBe(true);
    expect(log).toEqual(['taskPrerun', 'onSuccess', 'taskSuccess', 'taskPostrun:SUCCESS']);
    expect(seen).toMatchObject({ id: result.id, isEager: true, retries: 0, args: [2, 3] });
    expect(seen!.headers['x-h']).toBe(1);
    // Nothing was stored: eager results live in the EagerResult unless taskStoreEagerResult is on.
    expect(await app.AsyncResult(result.id).state()).toBe(States.PENDING);
  });

  it('runs delay() in place with taskAlwaysEager, after a serialize/deserialize round trip', async () => {
    const app = makeApp({ taskAlwaysEager: true });
    const echo = app.task('eager.echo', (value: unknown) => value);
    const date = new Date('2026-01-02T03:04:05.000Z');
    const viaDelay = await echo.delay({ when: date, n: 1 });
    expect(viaDelay).toBeInstanceOf(EagerResult);
    // As through a broker: the Date became its JSON form.
    expect(await viaDelay.get()).toEqual({ when: '2026-01-02T03:04:05.000Z', n: 1 });
    // apply() does not round-trip, as Celery's.
    expect(await (await echo.apply([{ when: date }])).get()).toEqual({ when: date });
    // What JSON cannot carry is refused as through a broker (bytes); a bigint now survives, as an exact integer.
    await expect(echo.delay(Buffer.from('x'))).rejects.toBeInstanceOf(EncodeError);
    expect(await (await echo.delay(2n ** 60n + 1n)).get()).toBe(2n ** 60n + 1n);
    // Nothing reached the broker.
    const broker = await app.getBroker();
    expect(await broker.size('celery')).toBe(0);
  });

  it('returns failures in the EagerResult, or throws them with taskEagerPropagates', async () => {
    const app = makeApp();
    const boom = app.task('eager.boom', () => {
      throw new RangeError('eager failure');
    });
    const result = await boom.apply([]);
    expect(result.status).toBe(States.FAILURE);
    await expect(result.get()).rejects.toBeInstanceOf(RangeError);
    expect(await result.get({ propagate: false })).toBeInstanceOf(RangeError);
    expect((await result.meta()).result).toMatchObject({
      exc_type: 'RangeError',
      exc_message: ['eager failure'],
    });
    const propagating = makeApp({ taskEagerPropagates: true, taskAlwaysEager: true });
    const boom2 = propagating.task('eager.boom', () => {
      throw new RangeError('thrown at the caller');
    });
    await expect(boom2.delay()).rejects.toThrow('thrown at the caller');
  });

  it('stores eager results with taskStoreEagerResult, custom states included', async () => {
    const app = makeApp({ taskStoreEagerResult: true });
    const states: string[] = [];
    const steps = app.task('eager.steps', async () => {
      await currentTask().updateState({ state: 'PROGRESS', meta: { step: 1 } });
      states.push(await app.AsyncResult(currentTask().request.id).state());
      return 'stored';
    });
    const fails = app.task('eager.fails', () => {
      throw new Error('stored failure');
    });
    const ok = await steps.apply([]);
    expect(states).toEqual(['PROGRESS']);
    expect(await app.AsyncResult(ok.id).get({ timeout: 5 })).toBe('stored');
    const bad = await fails.apply([]);
    expect(await app.AsyncResult(bad.id).state()).toBe(States.FAILURE);
  });

  it('re-runs a retrying task at once, counting retries, until it succeeds or runs out', async () => {
    const app = makeApp();
    const seen: number[] = [];
    const flaky = app.task('eager.flaky', (x: number) => {
      seen.push(currentTask().request.retries);
      if (currentTask().request.retries < 2) currentTask().retry({ countdown: 60, exc: new Flaky('again') });
      return x;
    });
    const result = await flaky.apply([7]);
    expect(await result.get()).toBe(7);
    expect(seen).toEqual([0, 1, 2]);
    const auto = app.task(
      'eager.auto',
      () => {
        throw new Flaky('always');
      },
      { autoretryFor: [Flaky], maxRetries: 2 },
    );
    const exhausted = await auto.apply([]);
    expect(exhausted.status).toBe(States.FAILURE);
    await expect(exhausted.get()).rejects.toThrow('always');
    const plain = app.task('eager.plain', () => currentTask().retry({ countdown: 0 }), { maxRetries: 1 });
    await expect((await plain.apply([])).get()).rejects.toBeInstanceOf(MaxRetriesExceededError);
  });

  it('calls link callbacks eagerly when taskAlwaysEager is on', async () => {
    const app = makeApp({ taskAlwaysEager: true });
    const got: unknown[] = [];
    const add = app.task('eager.add2', (x: number, y: number) => x + y);
    app.task('eager.collect', (value: unknown) => void got.push(value));
    const result = await add.applyAsync(
      [1, 2],
      {},
      {
        link: {
          task: 'eager.collect',
          args: [],
          kwargs: {},
          options: {},
          subtask_type: null,
          immutable: false,
        },
      },
    );
    expect(await result.get()).toBe(3);
    expect(got).toEqual([3]);
    expect((await result.meta()).status).toBe(States.SUCCESS);
  });
});
