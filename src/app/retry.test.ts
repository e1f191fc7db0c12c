import { describe, expect, it } from 'vitest';
import { isCeleriacError, MaxRetriesExceededError, Retry } from '../errors.js';
import type { TaskRequest, TaskScope } from './context.js';
import { exponentialBackoff, matchesError, retryCallOptions, retryScope } from './retry.js';

function request(overrides: Partial<TaskRequest> = {}): TaskRequest {
  return {
    id: 'id-1',
    task: 't.name',
    args: [1],
    kwargs: { k: 'v' },
    retries: 0,
    eta: null,
    expires: null,
    group: null,
    groupIndex: null,
    rootId: 'root-1',
    parentId: null,
    hostname: 'w@h',
    deliveryInfo: { exchange: '', routingKey: 'q1', priority: 3, redelivered: false },
    correlationId: 'id-1',
    replyTo: 'oid',
    headers: { task: 't.name', id: 'id-1', retries: 0, 'x-custom': 'kept', ignore_result: false },
    timelimit: [10, 5],
    origin: 'gen1@h',
    ignoreResult: false,
    isEager: false,
    shadow: null,
    embed: { callbacks: null, errbacks: null, chain: null, chord: null },
    queue: 'q1',
    ...overrides,
  };
}

function scope(req: TaskRequest, options: TaskScope['options'] = {}): TaskScope {
  return { request: req, signal: new AbortController().signal, options, updateState: async () => undefined };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
}

describe('exponentialBackoff (celery.utils.time.get_exponential_backoff_interval)', () => {
  it('doubles from the factor, caps at the maximum, and draws full jitter as randrange(n + 1)', () => {
    expect([0, 1, 2, 3, 10].map((r) => exponentialBackoff(1, r, 600, false))).toEqual([1, 2, 4, 8, 600]);
    expect(exponentialBackoff(3, 2, 600, false)).toBe(12);
    expect(exponentialBackoff(0, 5, 600, false)).toBe(0);
    expect(exponentialBackoff(1, 3, 600, true, () => 0)).toBe(0);
    expect(exponentialBackoff(1, 3, 600, true, () => 0.999999)).toBe(8);
    expect(exponentialBackoff(1, 3, 600, true, () => 0.5)).toBe(4);
  });
});

describe('retry()', () => {
  it('builds the re-sent message from the request: same id, retries + 1, back to its queue', () => {
    const error = thrown(() => retryScope(scope(request()), { countdown: 5 })) as Retry;
    expect(isCeleriacError(error, 'Retry')).toBe(true);
    expect(error.message).toBe('Retry in 5s');
    expect(error.when).toBe(5);
    expect(error.sig).toEqual({
      task: 't.name',
      args: [1],
      kwargs: { k: 'v' },
      options: {
        taskId: 'id-1',
        retries: 1,
        rootId: 'root-1',
        parentId: 'id-1',
        ignoreResult: false,
        replyTo: 'oid',
        timeLimit: 10,
        softTimeLimit: 5,
        headers: { 'x-custom': 'kept' },
        priority: 3,
        queue: 'q1',
        countdown: 5,
      },
    });
  });

  it('uses defaultRetryDelay, then 180 s, when given neither countdown nor eta', () => {
    expect((thrown(() => retryScope(scope(request(), { defaultRetryDelay: 7 }), {})) as Retry).when).toBe(7);
    expect((thrown(() => retryScope(scope(request()), {})) as Retry).when).toBe(180);
  });

  it('stops at maxRetries (default 3; null is forever; the call may override)', () => {
    expect(thrown(() => retryScope(scope(request({ retries: 3 })), {}))).toBeInstanceOf(
      MaxRetriesExceededError,
    );
    expect(thrown(() => retryScope(scope(request({ retries: 2 })), {}))).toBeInstanceOf(Retry);
    expect(
      thrown(() => retryScope(scope(request({ retries: 99 }), { maxRetries: null }), {})),
    ).toBeInstanceOf(Retry);
    expect(thrown(() => retryScope(scope(request({ retries: 1 })), { maxRetries: 1 }))).toBeInstanceOf(
      MaxRetriesExceededError,
    );
    const exc = new RangeError('original');
    expect(thrown(() => retryScope(scope(request({ retries: 3 })), { exc }))).toBe(exc);
  });

  it('routes through the exchange the message came by when it was not the default exchange', () => {
    const options = retryCallOptions(
      request({
        deliveryInfo: { exchange: 'media', routingKey: 'img.big', priority: null, redelivered: false },
      }),
      {},
      1,
    );
    expect(options).toMatchObject({ exchange: 'media', routingKey: 'img.big' });
    expect(options.queue).toBeUndefined();
    expect(retryCallOptions(request(), { queue: 'elsewhere', priority: 9 }, 1)).toMatchObject({
      queue: 'elsewhere',
      priority: 9,
    });
  });
});

describe('matchesError', () => {
  class Custom extends TypeError {}
  it('matches classes, subclasses and names along the prototype chain', () => {
    expect(matchesError(new Custom('x'), [TypeError])).toBe(true);
    expect(matchesError(new Custom('x'), ['TypeError'])).toBe(true);
    expect(matchesError(new Custom('x'), ['Custom'])).toBe(true);
    expect(matchesError(new RangeError('x'), [TypeError, 'SyntaxError'])).toBe(false);
    expect(matchesError('a string', ['Error'])).toBe(false);
  });
});

describe('task.retry() outside its own run', () => {
  it('re-throws exc (or a bare Retry) when the function is called directly, and refuses inside another task', async () => {
    const { Celery } = await import('./celery.js');
    const { runInTaskScope } = await import('./context.js');
    const app = new Celery('t', { broker: 'memory://retry-direct' });
    const t = app.task('t.name', () => 1);
    const exc = new RangeError('direct');
    expect(thrown(() => t.retry({ exc }))).toBe(exc);
    expect(thrown(() => t.retry())).toBeInstanceOf(Retry);
    const other = scope(request({ task: 'other.task' }));
    expect(thrown(() => runInTaskScope(other, () => t.retry()))).toMatchObject({
      name: 'ImproperlyConfigured',
      message: expect.stringContaining('use currentTask()'),
    });
  });
});
