/**
 * Acceptance: `rabbitmqctl stop_app` and `start_app` in the middle of 5,000 tasks. The worker process notices,
 * keeps trying to reconnect (saying so), re-declares and consumes again by itself, and every task completes;
 * with acksLate none is lost, and at most the prefetched ones run twice. Runs against a RabbitMQ node of its own,
 * so stopping it does not disturb other test files. Tasks record their label in a file, outside the broker.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { startCli, type RunningProcess } from '../support/processes.js';
import { startPrivateNode, type PrivateNode } from '../support/rabbitmq.js';
import { tempDir } from '../support/tmp.js';
import { stopProcess, TS_APP } from '../interop/amqp-support.js';

const N = 5_000;
const CONCURRENCY = 8;
const PREFETCH = CONCURRENCY * 4;
const dir = tempDir('amqp-restart');
let node: PrivateNode;
let worker: RunningProcess | undefined;
let app: Celery | undefined;

beforeAll(async () => {
  node = await startPrivateNode('restart');
});
afterEach(async () => {
  // Whatever happened, the node is running again for the next test.
  await node.ctl(['start_app']).catch(() => undefined);
  await app?.close();
  if (worker) await stopProcess(worker);
});
afterAll(async () => {
  await node?.stop();
  dir.remove();
});

function recorded(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

describe('a worker across a RabbitMQ stop_app / start_app', () => {
  it.each([
    ['acks early', false],
    ['acksLate', true],
  ] as const)(
    'recovers by itself and completes all 5,000 tasks (%s)',
    async (label, acksLate) => {
      const queue = `restart-${acksLate ? 'late' : 'early'}`;
      const file = join(dir.path, `${queue}.log`);
      app = new Celery('restart-producer', { broker: node.url, taskQueueMaxPriority: 10 });
      app.logger = silentLogger();
      await Promise.all(
        Array.from({ length: N }, (_, i) => app!.sendTask('interop.record', [String(i)], {}, { queue })),
      );
      worker = startCli(['-A', TS_APP, 'worker', '-Q', queue, '-l', 'info', '-c', String(CONCURRENCY)], {
        env: {
          CELERIAC_BROKER_URL: node.url,
          RECORD_FILE: file,
          RECORD_DELAY_MS: '3',
          INTEROP_ACKS_LATE: acksLate ? '1' : '0',
        },
      });
      await worker.waitFor(/ ready\.$/, 30_000);
      await expect.poll(() => recorded(file).length, { timeout: 30_000, interval: 20 }).toBeGreaterThan(500);

      await node.ctl(['stop_app']);
      await worker.waitFor(/Connection to broker .* lost/, 30_000);
      // Publishing while the broker is down fails at once with ConnectionError, so retry policies apply.
      await expect(
        app.sendTask('interop.record', ['outage'], {}, { queue, retry: false }),
      ).rejects.toMatchObject({
        name: 'ConnectionError',
      });
      await worker.waitFor(/Cannot reconnect to/, 30_000);
      await node.ctl(['start_app']);

      await worker.waitFor(/Consuming from .* again/, 60_000);
      await expect
        .poll(() => new Set(recorded(file)).size, { timeout: 120_000, interval: 200 })
        .toBe(N)
        .catch((error: unknown) => {
          // What the worker said after the restart is what tells a stall from a slow machine.
          throw new Error(
            `${(error as Error).message}\nworker output (end):\n${worker!.output().slice(-6000)}`,
          );
        });
      const all = recorded(file);
      expect(new Set(all)).toEqual(new Set(Array.from({ length: N }, (_, i) => String(i))));
      // At least once: only deliveries held when the connection died can run again.
      expect(all.length - N, label).toBeLessThanOrEqual(PREFETCH);
      expect(worker.child.exitCode).toBeNull();
    },
    300_000,
  );
});
