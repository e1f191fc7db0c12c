import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../../transport/sqlite/file.js';
import { silentLogger } from '../../lifecycle/logger.js';
import { brokerConformance } from '../conformance/broker-suite.js';
import { collector, testMessage } from '../conformance/helpers.js';
import { createSqliteBroker, SqliteBroker, sqliteCapabilities } from './sqlite-broker.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-broker-'));
const url = `sqlite://${join(dir, 'broker.db')}`;
const context = (transportOptions: Record<string, unknown> = {}) => ({
  logger: silentLogger(),
  transportOptions,
  connectionRetry: false,
  connectionMaxRetries: 0,
  connectionTimeoutMs: 1000,
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

brokerConformance('sqlite', {
  create: () => createSqliteBroker(url, context()),
  capabilities: sqliteCapabilities,
  // A process that died on this host: its leases are released (as the next broker's sweep does), and the broker
  // in the test, renewing, learns it lost them.
  loseDeliveries: async (broker) => {
    const owner = (broker as unknown as { owner: string }).owner;
    const db = openSqlite(url, 'broker');
    db.prepare(
      `UPDATE celeriac_messages SET available_at = 0, lease_owner = NULL, lease_token = NULL, redelivered = 1
         WHERE lease_owner = ?`,
    ).run(owner);
    db.close();
    (broker as SqliteBroker).renewLeases();
  },
  // An embedded broker restarts by being opened again: the next broker reopens the file.
  restartable: async () => ({
    create: () => createSqliteBroker(url, context()),
    restart: async () => undefined,
    stop: async () => undefined,
  }),
  connection: { url },
  deadLetters: async (broker, queue) =>
    (broker as SqliteBroker).deadLetters(queue).map((d) => ({
      reason: d.reason,
      label: typeof d.headers.label === 'string' ? d.headers.label : 'not a test message',
    })),
});

describe('sqlite broker', () => {
  it('gives back the leases of a process that died on this host within seconds, whatever the visibility timeout', async () => {
    const broker = createSqliteBroker(url, context({ visibilityTimeout: 3600, pollingInterval: 0.02 }));
    await broker.connect();
    const q = { name: `dead-owner-${Date.now()}` };
    await broker.declare([q]);
    const c = collector();
    // Consuming before the lease below exists, holding one delivery so that it fetches nothing meanwhile (prefetch
    // 1): only the fetch loop's own check can give the dead process's lease back.
    await broker.consume([q], c.handler, { prefetch: 1 });
    await broker.publish(testMessage('first'), { exchange: '', routingKey: q.name });
    const [first] = await c.waitFor(1);
    await broker.publish(testMessage('held-by-the-dead'), { exchange: '', routingKey: q.name });
    // Leased by a process that is gone (its pid exited), for the next hour.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const db = openSqlite(url, 'broker');
    const leased = db
      .prepare(
        `UPDATE celeriac_messages SET available_at = ?, lease_owner = ?, lease_token = 'x' WHERE queue = ? AND lease_owner IS NULL`,
      )
      .run(Date.now() + 3_600_000, `${hostname()}/${dead}/deadbeef`, q.name).changes;
    db.close();
    expect(leased).toBe(1);
    await broker.ack([first!]);
    const all = await c.waitFor(2, 10_000);
    expect(all[1]!.redelivered).toBe(true);
    await broker.ack([all[1]!]);
    await broker.close();
  });

  it('redelivers a message whose lease expired, and fences the stale holder', async () => {
    const a = new SqliteBroker(url, context({ visibilityTimeout: 0.3 }));
    const b = new SqliteBroker(url, context({ visibilityTimeout: 0.3 }));
    await a.connect();
    await b.connect();
    const q = { name: `lease-${Date.now()}` };
    await a.publish(testMessage('leased'), { exchange: '', routingKey: q.name });
    const ca = collector();
    const consumerA = await a.consume([q], ca.handler, { prefetch: 1 });
    const [stale] = await ca.waitFor(1);
    // Freeze A's lease keeper, as a stopped process would: its lease then expires and B takes the message.
    await consumerA.cancel();
    clearInterval((a as unknown as { leaseTimer?: NodeJS.Timeout }).leaseTimer);
    const cb = collector();
    await b.consume([q], cb.handler, { prefetch: 1 });
    const [fresh] = await cb.waitFor(1, 5_000);
    expect(fresh!.redelivered).toBe(true);
    await a.ack([stale!]); // fenced: must not delete B's delivery
    expect(await b.size(q.name)).toBe(0);
    await b.requeue([fresh!]);
    expect(await b.size(q.name)).toBe(1);
    await b.purge(q.name);
    await a.close();
    await b.close();
  });

  it('keeps rejected messages in the dead-letter table with their reason', async () => {
    const broker = new SqliteBroker(url, context());
    await broker.connect();
    const q = { name: `dead-${Date.now()}` };
    await broker.publish(testMessage('poison'), { exchange: '', routingKey: q.name });
    const c = collector();
    await broker.consume([q], c.handler, { prefetch: 1 });
    const [d] = await c.waitFor(1);
    await broker.reject(d!, { requeue: false, reason: 'body-decode-error' });
    expect(broker.deadLetters(q.name)).toEqual([
      expect.objectContaining({ queue: q.name, reason: 'body-decode-error' }),
    ]);
    await broker.close();
  });
});
