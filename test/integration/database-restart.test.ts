/**
 * Issue 18: the database goes away mid-run (a private PostgreSQL cluster, shut down immediately as in a crash, then
 * started again): results stored meanwhile are retried until the database is back and none is lost, and a waiter
 * that was LISTENing gets its result after the restart.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabaseBackend } from '../../src/backends/database/database-backend.js';
import type { ResultBackend } from '../../src/backends/backend.js';
import { buildMeta } from '../../src/backends/meta.js';
import { createLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { States } from '../../src/types.js';
import { PrivatePostgres } from '../support/postgres.js';

let server: PrivatePostgres;
const lines: string[] = [];
const logger = createLogger({ level: 'warn', destination: { write: (line: string) => lines.push(line) } });
const open: ResultBackend[] = [];

beforeAll(async () => {
  server = await PrivatePostgres.start();
});

afterAll(async () => {
  await Promise.all(open.map((b) => b.close()));
  server.stop();
});

function backend(): ResultBackend {
  const b = createDatabaseBackend(server.url, { logger, resultExpires: 600, transportOptions: {} });
  open.push(b);
  return b;
}

const success = (taskId: string, result: number) =>
  buildMeta({ state: States.SUCCESS, result, request: { taskId } });

it('retries the results stored while PostgreSQL restarts and loses none; a LISTENing waiter still gets its result', async () => {
  const writer = backend();
  const reader = backend();
  await Promise.all([writer.connect(), reader.connect()]);
  const before = Array.from({ length: 100 }, () => uuid());
  await Promise.all(before.map((id, i) => writer.store(success(id, i))));
  const awaited = uuid();
  const waiting = reader.waitFor(awaited, { timeoutMs: 120_000 });
  // The waiter is listening once its first read has happened; a stored result proves the connection works.
  expect(await reader.get(before[0]!)).not.toBeNull();

  server.kill();
  const during = Array.from({ length: 100 }, () => uuid());
  const stored = Promise.all(during.map((id, i) => writer.store(success(id, 1000 + i))));
  // Wait until the writer has seen the failure and is retrying, then bring the database back.
  await expect
    .poll(() => lines.some((l) => /storing results failed .*retrying/.test(l)), { timeout: 30_000 })
    .toBe(true);
  server.launch();
  await stored;
  await writer.store(success(awaited, 7));
  expect((await waiting).result).toBe(7);

  for (const [i, id] of before.entries()) expect((await reader.get(id))?.result).toBe(i);
  for (const [i, id] of during.entries()) expect((await reader.get(id))?.result).toBe(1000 + i);
}, 180_000);
