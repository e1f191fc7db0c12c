/**
 * Runs a task-semantics suite once per driver (memory and SQLite broker + backend), each test with its own app,
 * namespace and workers, all stopped afterwards. Built on the public `celeriac/testing` helpers.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe } from 'vitest';
import type { Celery } from '../../src/app/celery.js';
import type { Broker, Delivery, QueueSpec } from '../../src/brokers/broker.js';
import { createLogger, type Logger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { createTestApp, startTestWorker, type TestAppOptions } from '../../src/testing/index.js';
import type { Worker, WorkerOptions } from '../../src/worker/worker.js';
import { tempDir } from '../support/tmp.js';

export interface Driver {
  readonly name: 'memory' | 'sqlite';
  urls(): { broker: string; backend: string };
}

export interface SuiteContext {
  readonly driver: Driver['name'];
  /** A fresh app on this driver, closed after the test. */
  readonly makeApp: (options?: TestAppOptions) => Celery;
  /** A started worker, stopped after the test. */
  readonly startWorker: (app: Celery, options?: WorkerOptions) => Promise<Worker>;
}

export function drivers(prefix: string): { list: Driver[]; cleanup(): void } {
  const dir = tempDir(prefix);
  return {
    list: [
      {
        name: 'memory',
        urls: () => {
          const ns = `${prefix}-${uuid()}`;
          return { broker: `memory://${ns}`, backend: `memory://${ns}` };
        },
      },
      {
        name: 'sqlite',
        urls: () => {
          const file = join(dir.path, `${uuid()}.db`);
          return { broker: `sqlite://${file}`, backend: `sqlite://${file}` };
        },
      },
    ],
    cleanup: () => dir.remove(),
  };
}

/** `describe` the suite for memory and for SQLite. */
export function onEveryDriver(title: string, body: (ctx: SuiteContext) => void): void {
  const set = drivers(title.replace(/\W+/g, '-').toLowerCase());
  afterAll(() => set.cleanup());
  for (const driver of set.list) {
    describe(`${title} [${driver.name}]`, () => {
      const workers: { stop(): Promise<void> }[] = [];
      const apps: Celery[] = [];
      afterEach(async () => {
        await Promise.all(workers.splice(0).map((w) => w.stop()));
        await Promise.all(apps.splice(0).map((a) => a.close()));
      });
      body({
        driver: driver.name,
        makeApp: (options = {}) => {
          const app = createTestApp({ ...driver.urls(), ...options });
          apps.push(app);
          return app;
        },
        startWorker: async (app, options = {}) => {
          const { worker, stop } = await startTestWorker(app, options);
          workers.push({ stop });
          return worker;
        },
      });
    });
  }
}

/** A logger whose lines (JSON records) are kept for assertions. */
export function capturingLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger({
    level: 'debug',
    format: 'json',
    destination: { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
  });
  return { logger, lines };
}

/** Consumes every message published to a queue (declared and bound as given), for inspection. */
export async function tap(
  broker: Broker,
  queue: QueueSpec,
): Promise<{ deliveries: Delivery[]; stop(): Promise<void> }> {
  await broker.declare([queue]);
  const deliveries: Delivery[] = [];
  const consumer = await broker.consume([queue], (d) => deliveries.push(d), { prefetch: 0 });
  return {
    deliveries,
    stop: async () => {
      await consumer.cancel();
      await broker.ack(deliveries);
    },
  };
}

/** A promise and its resolver, for gating tasks from tests. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
