/**
 * The mailbox and the client together on the memory broker: every inspect command answers with Celery's shapes,
 * control commands act, bad requests get error replies while the mailbox keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, Worker } from '../../src/index.js';
import { requestMessage } from '../../src/control/wire.js';

describe('remote control on the memory broker', () => {
  const app = new Celery('control-memory', { broker: 'memory://', backend: 'memory://' });
  app.task('ctl.add', (x: number, y: number) => x + y);
  const slow = app.task('ctl.slow', async () => new Promise((r) => setTimeout(r, 60_000)));
  let worker: Worker;

  beforeAll(async () => {
    worker = new Worker(app, { hostname: 'w1@test', pool: 'async', concurrency: 4, mingle: false });
    await worker.start();
  });
  afterAll(async () => {
    await worker.stop({ cold: true });
  });

  it('answers ping, by destination and pattern', async () => {
    expect(await app.control.ping({ timeout: 2 })).toEqual([{ 'w1@test': { ok: 'pong' } }]);
    expect(await app.control.inspect({ destination: ['w1@test'], timeout: 2 }).ping()).toEqual({
      'w1@test': { ok: 'pong' },
    });
    expect(await app.control.inspect({ destination: ['nobody@x'], timeout: 0.3 }).ping()).toEqual({});
    expect(await app.control.inspect({ pattern: 'w1@*', timeout: 2, limit: 1 }).ping()).toEqual({
      'w1@test': { ok: 'pong' },
    });
  });

  it('answers the inspect commands with Celery shapes', async () => {
    const i = app.control.inspect({ timeout: 2, limit: 1 });
    expect((await i.registered())['w1@test']).toEqual(['ctl.add', 'ctl.slow']);
    const stats = (await i.stats())['w1@test']!;
    expect(stats.pid).toBe(process.pid);
    expect(typeof stats.clock).toBe('string');
    expect(stats.pool['max-concurrency']).toBe(4);
    expect(stats.broker.transport).toBe('memory');
    expect(typeof stats.rusage.utime).toBe('number');
    expect((await i.activeQueues())['w1@test']![0]).toMatchObject({ name: 'celery', routing_key: 'celery' });
    expect(await i.revoked()).toEqual({ 'w1@test': [] });
    expect(await i.scheduled()).toEqual({ 'w1@test': [] });
    expect((await i.clock())['w1@test']!.clock).toBeGreaterThan(0);
    expect((await i.report())['w1@test']).toHaveProperty('ok');
    expect((await i.conf())['w1@test']).toMatchObject({ broker_url: 'memory://' });
  });

  it('lists active and query_task, then terminates a running task as REVOKED', async () => {
    const running = await slow.delay();
    const later = await slow.applyAsync([], { countdown: 30 });
    const i = app.control.inspect({ timeout: 2, limit: 1 });
    await expect.poll(async () => (await i.active())['w1@test']?.length, { timeout: 10_000 }).toBe(1);
    expect((await i.active())['w1@test']![0]).toMatchObject({ id: running.id, name: 'ctl.slow' });
    // The memory broker delays countdown messages itself: the worker holds nothing for later here (see the
    // Redis tests for `scheduled`).
    expect((await i.queryTask([running.id]))['w1@test']![running.id]![0]).toBe('active');
    const replies = await app.control.revoke(running.id, {
      terminate: true,
      reply: true,
      timeout: 2,
      limit: 1,
    });
    expect(replies).toEqual([{ 'w1@test': { ok: `terminate: ${running.id}` } }]);
    await expect.poll(() => running.state(), { timeout: 10_000 }).toBe('REVOKED');
    await later.revoke();
    await expect.poll(async () => (await i.revoked())['w1@test'], { timeout: 5000 }).toContain(later.id);
  });

  it('changes rate and time limits and refuses an unknown task', async () => {
    const opts = { reply: true, timeout: 2, limit: 1 } as const;
    expect(await app.control.rateLimit('ctl.add', '10/m', opts)).toEqual([
      { 'w1@test': { ok: 'new rate limit set successfully' } },
    ]);
    expect((await app.control.inspect({ timeout: 2, limit: 1 }).registered())['w1@test']).toContain(
      'ctl.add [rate_limit=10/m]',
    );
    expect(await app.control.rateLimit('ctl.add', null, opts)).toEqual([
      { 'w1@test': { ok: 'rate limit disabled successfully' } },
    ]);
    expect(await app.control.timeLimit('ctl.add', 1, 2, opts)).toEqual([
      { 'w1@test': { ok: 'time limits set successfully' } },
    ]);
    expect(await app.control.rateLimit('nope', '1/s', opts)).toEqual([
      { 'w1@test': { error: 'unknown task' } },
    ]);
    expect(await app.control.poolGrow(1, opts)).toEqual([
      {
        'w1@test': {
          error: expect.stringContaining(
            'pool_grow needs a running worker with the threads or prefork pool',
          ) as string,
        },
      },
    ]);
  });

  it('answers unknown commands, bad arguments and malformed messages with errors, and keeps serving', async () => {
    const opts = { reply: true, timeout: 2, limit: 1 } as const;
    expect(await app.control.broadcast('bogus', opts)).toEqual([
      { 'w1@test': { error: 'No such command: bogus' } },
    ]);
    expect(await app.control.broadcast('rate_limit', { ...opts, arguments: { task_name: 5 } })).toEqual([
      { 'w1@test': { error: 'rate_limit: argument task_name must be a non-empty string, got 5' } },
    ]);
    const broker = await app.getBroker();
    const junk = requestMessage(
      { method: 'ping', arguments: {}, destination: null, pattern: null, matcher: null },
      1,
      0,
    );
    await broker.publish(
      { ...junk, body: Buffer.from('{not json') },
      { exchange: 'celery.pidbox', routingKey: '' },
    );
    await broker.publish(
      { ...junk, contentType: 'application/x-python-serialize' },
      { exchange: 'celery.pidbox', routingKey: '' },
    );
    expect(await app.control.ping({ timeout: 2, limit: 1 })).toEqual([{ 'w1@test': { ok: 'pong' } }]);
  });

  it('runs user commands registered with app.control.command', async () => {
    app.control.command(
      'shout',
      (args, ctx) => ({ ok: `${JSON.stringify(args.word)}! from ${ctx.hostname}` }),
      {
        args: [['word', 'str']],
      },
    );
    expect(
      await app.control.broadcast('shout', { reply: true, timeout: 2, limit: 1, arguments: { word: 'hi' } }),
    ).toEqual([{ 'w1@test': { ok: '"hi"! from w1@test' } }]);
  });
});
