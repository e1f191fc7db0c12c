/** retry(), maxRetries, defaultRetryDelay, autoretryFor with backoff, Reject and Ignore, on every driver. */
import { expect, it } from 'vitest';
import { currentTask } from '../../src/app/current-task.js';
import type { TaskContext, TaskRequest } from '../../src/app/context.js';
import { Ignore, Reject } from '../../src/errors.js';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { parseIso } from '../../src/protocol/time.js';
import { States, type JsonValue } from '../../src/types.js';
import { messageFixture, resultFixture } from '../golden/fixtures.js';
import { onEveryDriver, tap } from './harness.js';

class KeyError extends Error {
  override name = 'KeyError';
}

/** Headers of every task message the app publishes, in order. */
function publishedHeaders(app: {
  hooks: {
    on: (name: 'beforeTaskPublish', fn: (p: { headers: Record<string, unknown> }) => void) => unknown;
  };
}): Record<string, JsonValue>[] {
  const seen: Record<string, JsonValue>[] = [];
  app.hooks.on('beforeTaskPublish', ({ headers }) => {
    seen.push(structuredClone(headers) as Record<string, JsonValue>);
  });
  return seen;
}

onEveryDriver('retry', ({ driver, makeApp, startWorker }) => {
  it('retries twice then succeeds, with the same id and retries counting up', async () => {
    const app = makeApp();
    const runs: TaskRequest[] = [];
    const flaky = app.task('retry.flaky', (x: number) => {
      const { request } = currentTask();
      runs.push(request);
      if (request.retries < 2) currentTask().retry({ countdown: 0, exc: new KeyError('not yet') });
      return x * 2;
    });
    const retried: string[] = [];
    app.hooks.on('taskRetry', ({ taskId, reason }) => void retried.push(`${taskId}:${reason.message}`));
    const headers = publishedHeaders(app);
    await startWorker(app);
    const result = await flaky.delay(21);
    expect(await result.get({ timeout: 10 })).toBe(42);
    expect(runs.map((r) => [r.id, r.retries])).toEqual([
      [result.id, 0],
      [result.id, 1],
      [result.id, 2],
    ]);
    await expect.poll(() => retried.length).toBe(2);
    expect(retried).toEqual([
      `${result.id}:Retry in 0s: KeyError('not yet')`,
      `${result.id}:Retry in 0s: KeyError('not yet')`,
    ]);
    expect(headers.map((h) => [h.id, h.retries, h.parent_id, h.root_id])).toEqual([
      [result.id, 0, null, result.id],
      [result.id, 1, result.id, result.id],
      [result.id, 2, result.id, result.id],
    ]);
  });

  it('publishes the retry exactly as Celery 5.2.6 does, and stores the same RETRY meta', async () => {
    const fixture = messageFixture('worker-retry');
    const expected = decodeEnvelope(fixture.messages[0]!.raw);
    const app = makeApp();
    app.task(
      'golden.retry_once',
      (ctx: TaskContext, _value: string) =>
        ctx.retry({ exc: new KeyError('nope'), countdown: 0, queue: 'golden-parked' }),
      { bind: true },
    );
    const broker = await app.getBroker();
    const parked = await tap(broker, { name: 'golden-parked' });
    await startWorker(app, { queues: ['golden-default'] });
    const result = await app.sendTask(
      'golden.retry_once',
      ['v'],
      {},
      {
        taskId: 'aaaaaaaa-0000-4000-8000-000000000003',
        queue: 'golden-default',
      },
    );
    await expect.poll(() => parked.deliveries.length, { timeout: 10_000 }).toBe(1);
    const sent = parked.deliveries[0]!.message;
    const { origin: _o, lang: _l, ...ours } = sent.headers;
    const { origin: _po, lang: _pl, ...theirs } = expected.message.headers;
    expect(ours).toEqual(theirs);
    expect(parked.deliveries[0]!.routingKey).toBe(expected.routingKey);
    expect(JSON.parse(sent.body.toString('utf8'))).toEqual(
      JSON.parse(expected.message.body.toString('utf8')),
    );
    expect(sent.properties.correlation_id).toBe(expected.message.properties.correlation_id);
    await expect.poll(() => result.state(), { timeout: 10_000 }).toBe(States.RETRY);
    const golden = JSON.parse(resultFixture('retry').raw) as Record<string, unknown>;
    const meta = await result.meta();
    expect({ ...meta, traceback: null }).toEqual({ ...golden, traceback: null });
    expect(meta.traceback).toContain('KeyError');
    await parked.stop();
  });

  it('keeps callbacks, custom headers, group and the queue it came from', async () => {
    const app = makeApp();
    const seen: TaskRequest[] = [];
    const once = app.task('retry.once', (x: number) => {
      const { request } = currentTask();
      seen.push(request);
      if (request.retries === 0) currentTask().retry({ countdown: 0 });
      return x + 1;
    });
    const double = app.task('retry.double', (x: number) => x * 2);
    await startWorker(app, { queues: ['celery', 'retry-side'] });
    const callbackId = `cb-${driver}-${Date.now()}`;
    await once.applyAsync(
      [1],
      {},
      {
        queue: 'retry-side',
        headers: { 'x-trace': 'abc' },
        groupId: 'g-1',
        link: {
          task: 'retry.double',
          args: [],
          kwargs: {},
          options: { task_id: callbackId },
          subtask_type: null,
          immutable: false,
        },
      },
    );
    expect(await double.AsyncResult(callbackId).get({ timeout: 10 })).toBe(4);
    expect(seen).toHaveLength(2);
    expect(seen[1]).toMatchObject({ retries: 1, group: 'g-1', queue: 'retry-side' });
    expect(seen[1]!.headers['x-trace']).toBe('abc');
    expect(seen[1]!.deliveryInfo.routingKey).toBe('retry-side');
  });

  it('goes back through the named exchange and routing key a message came from', async () => {
    const app = makeApp({
      taskQueues: [
        { name: 'retry-topic', exchange: 'retry-ex', exchangeType: 'topic', routingKey: 'jobs.#' },
      ],
    });
    const seen: TaskRequest[] = [];
    const once = app.task('retry.routed', () => {
      const { request } = currentTask();
      seen.push(request);
      if (request.retries === 0) currentTask().retry({ countdown: 0 });
      return 'done';
    });
    await startWorker(app, { queues: ['retry-topic'] });
    const result = await once.applyAsync([], {}, { exchange: 'retry-ex', routingKey: 'jobs.image' });
    expect(await result.get({ timeout: 10 })).toBe('done');
    expect(seen.map((r) => [r.deliveryInfo.exchange, r.deliveryInfo.routingKey])).toEqual([
      ['retry-ex', 'jobs.image'],
      ['retry-ex', 'jobs.image'],
    ]);
  });

  it('fails with MaxRetriesExceededError after maxRetries, or re-throws exc', async () => {
    const app = makeApp();
    const always = app.task('retry.always', () => currentTask().retry({ countdown: 0 }), { maxRetries: 2 });
    const withExc = app.task(
      'retry.withExc',
      () => currentTask().retry({ countdown: 0, exc: new KeyError('gone') }),
      {
        maxRetries: 1,
      },
    );
    const runs: number[] = [];
    const override = app.task('retry.override', () => {
      runs.push(currentTask().request.retries);
      currentTask().retry({ countdown: 0, maxRetries: 0 });
    });
    await startWorker(app);
    const a = await always.delay();
    await expect(a.get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'MaxRetriesExceededError',
      remoteMessage: expect.stringMatching(/^Can't retry retry\.always\[.*\] args:\(\) kwargs:\{\}$/),
    });
    const b = await withExc.delay();
    await expect(b.get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'KeyError',
      remoteMessage: 'gone',
    });
    const c = await override.delay();
    await expect(c.get({ timeout: 10 })).rejects.toMatchObject({ excType: 'MaxRetriesExceededError' });
    expect(runs).toEqual([0]);
  });

  it('retries forever with maxRetries: null', async () => {
    const app = makeApp();
    const stubborn = app.task(
      'retry.forever',
      () => {
        const { retries } = currentTask().request;
        if (retries < 5) currentTask().retry({ countdown: 0 });
        return retries;
      },
      { maxRetries: null },
    );
    await startWorker(app);
    expect(await (await stubborn.delay()).get({ timeout: 20 })).toBe(5);
  });

  it('waits defaultRetryDelay when given neither countdown nor eta, and honours countdown and eta', async () => {
    const app = makeApp();
    const when = new Date(Date.now() + 3_600_000);
    // When each retry was asked for (in the task) and when it was published: its ETA, less the delay, lies between.
    const retryAt = new Map<string, number>();
    const delayed = app.task(
      'retry.delayed',
      (how: string) => {
        retryAt.set(currentTask().request.id, Date.now());
        if (how === 'default') currentTask().retry();
        if (how === 'countdown') currentTask().retry({ countdown: 30 });
        currentTask().retry({ eta: when });
      },
      { defaultRetryDelay: 120 },
    );
    const retries: { id: string; eta: number; publishedAt: number }[] = [];
    app.hooks.on('beforeTaskPublish', ({ headers }) => {
      if (headers.retries !== 1) return;
      retries.push({
        id: headers.id as string,
        eta: parseIso(headers.eta as string)!,
        publishedAt: Date.now(),
      });
    });
    await startWorker(app);
    for (const how of ['default', 'countdown', 'eta']) {
      const result = await delayed.delay(how);
      await expect.poll(() => result.state(), { timeout: 10_000 }).toBe(States.RETRY);
    }
    expect(retries).toHaveLength(3);
    // The delay an ETA gives, seen from the publish (at most the delay) and from the retry call (at least the
    // delay); ETAs are kept to the millisecond: 1 ms either side.
    const seen = ({ id, eta, publishedAt }: (typeof retries)[number]): [number, number] => [
      eta - publishedAt,
      eta - retryAt.get(id)!,
    ];
    const [defaultFromPublish, defaultFromCall] = seen(retries[0]!);
    expect(defaultFromPublish).toBeLessThanOrEqual(120_000 + 1);
    expect(defaultFromCall).toBeGreaterThanOrEqual(120_000 - 1);
    const [countdownFromPublish, countdownFromCall] = seen(retries[1]!);
    expect(countdownFromPublish).toBeLessThanOrEqual(30_000 + 1);
    expect(countdownFromCall).toBeGreaterThanOrEqual(30_000 - 1);
    expect(retries[2]!.eta).toBe(when.getTime());
  });

  it('retries automatically for autoretryFor errors (classes or names), not for others', async () => {
    const app = makeApp();
    let calls = 0;
    const auto = app.task(
      'retry.auto',
      () => {
        calls++;
        if (calls === 1) throw new KeyError('first');
        if (calls === 2) throw new TypeError('second');
        return calls;
      },
      { autoretryFor: [KeyError, 'TypeError'], retryKwargs: { countdown: 0 } },
    );
    const other = app.task(
      'retry.other',
      () => {
        throw new RangeError('not listed');
      },
      { autoretryFor: [KeyError] },
    );
    await startWorker(app);
    expect(await (await auto.delay()).get({ timeout: 10 })).toBe(3);
    const failed = await other.delay();
    await expect(failed.get({ timeout: 10 })).rejects.toMatchObject({ excType: 'RangeError' });
    expect((await failed.meta()).status).toBe(States.FAILURE);
  });

  it('computes the autoretry countdown with exponential backoff', async () => {
    const app = makeApp();
    const backoff = app.task(
      'retry.backoff',
      () => {
        throw new KeyError('busy');
      },
      {
        autoretryFor: ['KeyError'],
        retryBackoff: 4,
        retryBackoffMax: 100,
        retryJitter: false,
        maxRetries: 1,
      },
    );
    const headers = publishedHeaders(app);
    await startWorker(app);
    const sentAt = Date.now();
    const result = await backoff.delay();
    await expect.poll(() => result.state(), { timeout: 10_000 }).toBe(States.RETRY);
    const retry = headers.find((h) => h.retries === 1)!;
    const countdown = parseIso(retry.eta as string)! - sentAt;
    // factor 4 * 2 ** 0 = 4 seconds.
    expect(countdown).toBeGreaterThan(3_500);
    expect(countdown).toBeLessThan(8_000);
  });

  it('rejects with Reject: to the dead letters, or back to the queue with requeue', async () => {
    const app = makeApp();
    const rejected: { taskId: string | undefined; requeue: boolean }[] = [];
    app.hooks.on('taskRejected', ({ taskId, requeue }) => void rejected.push({ taskId, requeue }));
    const poison = app.task(
      'retry.poison',
      () => {
        throw new Reject('bad input', false);
      },
      { acksLate: true },
    );
    const runs: boolean[] = [];
    const again = app.task(
      'retry.again',
      () => {
        const { redelivered } = currentTask().request.deliveryInfo;
        runs.push(redelivered);
        if (!redelivered) throw new Reject('later', true);
        return 'second time';
      },
      { acksLate: true },
    );
    await startWorker(app);
    const p = await poison.delay();
    await expect.poll(() => rejected.length, { timeout: 10_000 }).toBe(1);
    expect(await p.state()).toBe(States.PENDING);
    const broker = await app.getBroker();
    const dead =
      'deadLetters' in broker
        ? typeof broker.deadLetters === 'function'
          ? (broker.deadLetters as (q: string) => { reason: string }[])('celery')
          : (broker.deadLetters as { reason: string }[])
        : [];
    expect(dead.at(-1)?.reason).toBe('bad input');
    const r = await again.delay();
    expect(await r.get({ timeout: 10 })).toBe('second time');
    expect(runs).toEqual([false, true]);
    expect(rejected).toEqual([
      { taskId: p.id, requeue: false },
      { taskId: r.id, requeue: true },
    ]);
  });

  it('acknowledges and stores nothing for Ignore', async () => {
    const app = makeApp();
    const postrun: string[] = [];
    app.hooks.on('taskPostrun', ({ state }) => void postrun.push(state));
    const ignored = app.task('retry.ignored', () => {
      throw new Ignore();
    });
    await startWorker(app);
    const result = await ignored.delay();
    await expect.poll(() => postrun, { timeout: 10_000 }).toEqual([States.IGNORED]);
    expect(await result.state()).toBe(States.PENDING);
    const broker = await app.getBroker();
    expect(await broker.size('celery')).toBe(0);
  });
});
