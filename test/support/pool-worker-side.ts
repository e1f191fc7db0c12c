/**
 * The worker's half of a pool child's broker and backend, in a process of its own, so that the stand-ins
 * (`ParentBroker`, `ParentBackend`) are tested over a real IPC channel with the prefork pool's serialization and
 * message shapes: it answers `call` messages with `serveCall` over a real SQLite broker and result backend
 * (`POOL_TEST_URL`, results kept `POOL_TEST_RESULT_EXPIRES` seconds, or forever when empty).
 */
import { createSqliteBackend } from '../../src/backends/sqlite/sqlite-backend.js';
import { createSqliteBroker } from '../../src/brokers/sqlite/sqlite-broker.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { serveCall } from '../../src/worker/pools/connections.js';
import { errorToData, type FromChild, type ToChild } from '../../src/worker/pools/ipc.js';

const url = process.env.POOL_TEST_URL ?? '';
const expires = process.env.POOL_TEST_RESULT_EXPIRES;
const logger = silentLogger();
const broker = createSqliteBroker(url, {
  logger,
  transportOptions: {},
  connectionRetry: false,
  connectionMaxRetries: 0,
  connectionTimeoutMs: 1000,
});
const backend = createSqliteBackend(url, {
  logger,
  resultExpires: expires ? Number(expires) : null,
  transportOptions: {},
});
await broker.connect();
await backend.connect();

function send(batch: ToChild[]): void {
  process.send?.(batch);
}

process.on('message', (batch: FromChild[]) => {
  for (const message of batch) {
    if (message.t !== 'call' || message.target === 'job') continue;
    const { callId } = message;
    serveCall({ broker, backend }, message.target, message.method, message.args).then(
      (value) => send([{ t: 'reply', callId, ok: true, value }]),
      (error: unknown) => send([{ t: 'reply', callId, ok: false, error: errorToData(error) }]),
    );
  }
});
process.on('disconnect', () => {
  void Promise.all([broker.close(), backend.close()]).then(() => process.exit(0));
});
process.send?.([{ t: 'ready', pid: process.pid } satisfies FromChild]);
