/**
 * Connection failures as a user meets them through the CLI: every start-up retry logged as Celery logs it, a
 * one-shot `call` that fails within seconds, SIGTERM interrupting a worker that is still connecting, a Redis
 * database the server does not have, and RabbitMQ refusing the login or the vhost.
 */
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../support/processes.js';
import { createVhost } from '../support/rabbitmq.js';

/** A TCP port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
});

describe('connection errors', () => {
  it('a worker logs each start-up retry, and SIGTERM while connecting stops it cleanly', async () => {
    const port = await closedPort();
    const worker = startCli(['-b', `redis://127.0.0.1:${port}/0`, 'worker', '-l', 'info']);
    await worker.waitFor(/Trying again in \d+\.\d\d seconds\.\.\. \(1\/100\)/, 60_000);
    await worker.waitFor(/\(2\/100\)/, 60_000);
    worker.kill('SIGTERM');
    expect(await worker.exited()).toBe(0);
    expect(worker.output()).toMatch(
      /Cannot connect to redis:\/\/127\.0\.0\.1:\d+\/0 \(broker\): connect ECONNREFUSED/,
    );
    expect(worker.output()).toContain('Warm shutdown');
    expect(worker.output()).not.toMatch(/\n\s+at |Error:/);
  });

  it('`call` against an unreachable broker fails within seconds with the reason', async () => {
    const port = await closedPort();
    const started = Date.now();
    const call = await runCli(['-b', `redis://127.0.0.1:${port}/0`, 'call', 'tasks.add']);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(call.code).toBe(1);
    expect(call.stderr).toMatch(
      /Error: Cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+\/0: connect ECONNREFUSED/,
    );
    expect(call.stderr).not.toMatch(/\n\s+at /);
  });

  it('a Redis database the server does not have fails with Redis error, not silently in database 0', async () => {
    const call = await runCli(['-b', 'redis://127.0.0.1:6379/99', 'call', 'tasks.add']);
    expect(call.code).toBe(1);
    expect(call.stderr).toContain('refused database 99: ERR DB index is out of range');
  });

  it('RabbitMQ refusing the login (403 ACCESS_REFUSED) or the vhost fails at once with the reason', async () => {
    const started = Date.now();
    const login = await runCli(['-b', 'amqp://guest:wrong-password@127.0.0.1:5672//', 'call', 'tasks.add']);
    expect(login.code).toBe(1);
    expect(login.stderr).toContain('ACCESS_REFUSED');
    expect(login.stderr).not.toContain('Trying again');
    const vhost = await createVhost('connection-errors');
    cleanups.push(() => vhost.remove());
    // A user with no permission on the vhost is refused when it opens it (530 NOT_ALLOWED).
    const { rabbitmqctl } = await import('../support/rabbitmq.js');
    await rabbitmqctl(['clear_permissions', '-p', vhost.name, 'guest']);
    const denied = await runCli(['-b', vhost.url, 'call', 'tasks.add']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('the vhost does not exist or the user may not open it');
    expect(denied.stderr).not.toContain('Trying again');
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
