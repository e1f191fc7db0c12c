import { afterEach, describe, expect, it } from 'vitest';
import { fixture, QUEUE, type Fixture } from '../../test/support/worker-requests.js';
import { ImproperlyConfigured } from '../errors.js';
import { Settlement } from './settlement.js';

describe('worker State', () => {
  let f: Fixture;
  afterEach(async () => {
    await f.close();
  });

  it('knows the registered tasks, their settings and rate limits; builtins only when asked', async () => {
    f = await fixture();
    expect(f.state.registered()).toEqual(['tasks.add', 'tasks.mul']);
    expect(f.state.registered({ builtins: true })).toEqual([
      'celery.fixture_builtin',
      'tasks.add',
      'tasks.mul',
    ]);
    const mul = f.state.task('tasks.mul')!;
    expect(mul.rateLimit).toBe('10/s');
    expect(mul.settings.timeLimit).toBe(30);
    expect(f.state.task('tasks.add')!.rateLimit).toBeNull();
    expect(f.state.task('tasks.nope')).toBeUndefined();
    expect(f.state.task('tasks.mul')).toBe(mul);
  });

  it('moves a request received -> scheduled -> reserved -> active -> ready, one set at a time', async () => {
    f = await fixture();
    const request = await f.request();
    expect(request.phase).toBe('received');
    f.state.schedule(request);
    expect([...f.state.scheduled]).toEqual([request]);
    f.state.reserve(request);
    f.state.reserve(request);
    expect([f.state.scheduled.size, f.state.reserved.size]).toEqual([0, 1]);
    f.state.accept(request);
    expect([f.state.reserved.size, f.state.active.size, request.phase]).toEqual([0, 1, 'active']);
    f.state.started(request, 4242);
    f.state.ready(request);
    expect([f.state.active.size, request.phase]).toEqual([0, 'ready']);
    expect([f.state.accepted, f.state.processed]).toEqual([1, 1]);
  });

  it('counts started requests per task (stats total) and finished ones, not the ones dropped before their slot', async () => {
    f = await fixture();
    for (const name of ['tasks.add', 'tasks.add', 'tasks.mul']) {
      const request = await f.request(name);
      f.state.accept(request);
      f.state.started(request, null);
      f.state.ready(request);
    }
    const dropped = await f.request('tasks.mul');
    f.state.reserve(dropped);
    f.state.ready(dropped);
    expect(f.state.total()).toEqual({ 'tasks.add': 2, 'tasks.mul': 1 });
    expect([f.state.accepted, f.state.processed, f.state.reserved.size]).toEqual([3, 3, 0]);
  });

  it("gives a request's info() in Celery's shape; safe gives the argument reprs", async () => {
    f = await fixture();
    const settlement = new Settlement({ broker: f.broker, logger: f.logger, state: f.state });
    const request = await f.request('tasks.add', { priority: 3 });
    const before = request.info();
    expect(before).toEqual({
      id: request.id,
      name: 'tasks.add',
      args: [2, 3],
      kwargs: { z: 1 },
      type: 'tasks.add',
      hostname: 'w1@host',
      time_start: null,
      acknowledged: false,
      delivery_info: { exchange: '', routing_key: QUEUE, priority: 3, redelivered: false },
      worker_pid: null,
    });
    f.state.accept(request);
    f.state.started(request, process.pid);
    await settlement.ack(request);
    const after = request.info(true);
    expect(after).toMatchObject({
      args: '(2, 3)',
      kwargs: "{'z': 1}",
      acknowledged: true,
      worker_pid: process.pid,
    });
    expect(after.time_start).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(after.time_start).toBeLessThanOrEqual(Date.now() / 1000 + 1);
  });

  it('answers query_task with where each held request is', async () => {
    f = await fixture();
    const running = await f.request();
    const waiting = await f.request();
    const eta = await f.request();
    f.state.accept(running);
    f.state.reserve(waiting);
    f.state.schedule(eta);
    const reply = f.state.queryTask([running.id, waiting.id, eta.id, 'unknown-id']);
    expect(Object.keys(reply).sort()).toEqual([running.id, waiting.id, eta.id].sort());
    expect(reply[running.id]![0]).toBe('active');
    expect(reply[waiting.id]![0]).toBe('reserved');
    expect(reply[eta.id]![0]).toBe('reserved');
    expect(reply[running.id]![1].id).toBe(running.id);
  });

  it('changes the time limits of a task for the requests that have not started', async () => {
    f = await fixture();
    const request = await f.request('tasks.mul');
    expect(request.timeLimits).toEqual({ hard: 30, soft: null });
    f.state.setTimeLimit('tasks.mul', { soft: 5, hard: 10 });
    expect(request.timeLimits).toEqual({ hard: 10, soft: 5 });
    expect(() => f.state.setTimeLimit('tasks.nope', { soft: 1, hard: 2 })).toThrow(ImproperlyConfigured);
  });

  it('holds revoked ids with Celery limits, and the pool size, prefetch and uptime', async () => {
    f = await fixture({ prefetch: 8 });
    expect([f.state.revoked.maxlen, f.state.revoked.expires]).toEqual([50_000, 10_800]);
    f.state.revoked.update(['a', 'b']);
    expect([...f.state.revoked]).toEqual(['a', 'b']);
    expect([f.state.poolSize, f.state.prefetch, f.state.prefetchCount, f.state.uptime]).toEqual([4, 8, 8, 0]);
  });
});
