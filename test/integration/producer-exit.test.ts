/**
 * A producer script exits by itself once it has nothing pending (no `app.close()`): idle Redis and AMQP
 * connections do not keep the process alive, while an awaited operation still does (lifecycle/idle-ref.ts).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { uuid } from '../../src/protocol/ids.js';
import { watchProcess } from '../support/processes.js';
import { createVhost } from '../support/rabbitmq.js';
import { REDIS_URL, testClient } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
const dir = tempDir('producer-exit');
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  dir.remove();
});

/** Runs a producer script; resolves with its exit code and output, or 'hung' after `limitMs`. */
async function runProducer(broker: string, backend: string, queue: string, limitMs = 45_000) {
  const script = join(dir.path, `producer-${uuid().slice(0, 8)}.mts`);
  writeFileSync(
    script,
    [
      `import { Celery } from ${JSON.stringify(INDEX)};`,
      `const app = new Celery('producer', { broker: ${JSON.stringify(broker)}, backend: ${JSON.stringify(backend)} });`,
      `const add = app.task('tasks.add', (x: number, y: number) => x + y);`,
      `const result = await add.applyAsync([1, 2], {}, { queue: ${JSON.stringify(queue)} });`,
      `console.log('state', await result.state());`,
    ].join('\n'),
  );
  const proc = watchProcess(
    spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    proc.exited(),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve('hung'), limitMs))),
  ]);
  clearTimeout(timer);
  if (code === 'hung') {
    proc.kill('SIGKILL');
    await proc.exited();
  }
  return { code, output: proc.output() };
}

describe('a producer with nothing pending exits by itself', () => {
  it('on Redis (broker and result backend)', async () => {
    const queue = `producer-exit-${uuid().slice(0, 8)}`;
    const client = testClient();
    cleanups.push(async () => {
      await client.del(queue);
      client.disconnect();
    });
    const run = await runProducer(REDIS_URL, REDIS_URL, queue);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('state PENDING');
    expect(await client.llen(queue)).toBe(1);
  });

  it('on RabbitMQ with the rpc:// backend', async () => {
    const vhost = await createVhost('producer-exit');
    cleanups.push(() => vhost.remove());
    const run = await runProducer(vhost.url, 'rpc://', `producer-exit-${uuid().slice(0, 8)}`);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('state PENDING');
  });
});
