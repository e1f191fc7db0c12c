import { afterEach, describe, expect, it } from 'vitest';
import type { Celery } from '../app/celery.js';
import { uuid } from '../protocol/ids.js';
import { createTestApp } from '../testing/index.js';
import { chord } from './chord.js';
import { group } from './group.js';

/** The shared RabbitMQ of the test machine (the rpc backend needs an AMQP broker). */
const AMQP_TEST_URL = process.env.CELERIAC_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';

describe('chords on backends that cannot join them', () => {
  const apps: Celery[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  for (const backend of ['rpc://', undefined]) {
    it(`refuses a chord with a clear error (${backend ?? 'no backend'})`, async () => {
      const app = createTestApp({
        broker: backend ? AMQP_TEST_URL : `memory://apply-${uuid()}`,
        ...(backend ? { backend } : { backend: null }),
        taskDefaultQueue: `apply-${uuid()}`,
      });
      apps.push(app);
      const add = app.task('t.add', (x: number, y: number) => x + y);
      const tsum = app.task('t.tsum', (values: number[]) => values.length);
      await expect(chord([add.s(1, 1)], tsum.s()).applyAsync()).rejects.toThrow(
        /does not support chords.*redis/,
      );
      if (!backend) {
        // A plain group needs no join and still works.
        await expect(group(add.s(1, 1)).applyAsync()).resolves.toBeDefined();
      }
    });
  }
});
