/**
 * The pool child's stand-ins run the broker and backend conformance suites, over a real IPC channel to a process
 * that plays the worker (test/support/pool-worker-side.ts: `serveCall` over SQLite). They declare what they can
 * do: publish and declare where the worker's broker can, never consume (a reader on the same file consumes for
 * the suite), no subscriptions; the backend is the worker's, chord counter included.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { tempDir } from '../../../test/support/tmp.js';
import { backendConformance } from '../../backends/conformance/backend-suite.js';
import { createSqliteBackend } from '../../backends/sqlite/sqlite-backend.js';
import { brokerConformance } from '../../brokers/conformance/broker-suite.js';
import { createSqliteBroker, sqliteCapabilities } from '../../brokers/sqlite/sqlite-broker.js';
import { silentLogger } from '../../lifecycle/logger.js';
import type { BackendCapabilities } from '../../backends/backend.js';
import { ParentBackend, ParentBroker, standInCapabilities, type CallParent } from './connections.js';
import { errorFromData, type FromChild, type ToChild } from './ipc.js';

const WORKER_SIDE = fileURLToPath(new URL('../../../test/support/pool-worker-side.ts', import.meta.url));
const dir = tempDir('pool-connections');
const url = `sqlite://${join(dir.path, 'pool.db')}`;

/** One process playing the worker, and the calls in flight to it. */
class WorkerSide {
  private nextCall = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (batch: ToChild[]) => {
      for (const message of batch) {
        if (message.t !== 'reply') continue;
        const waiter = this.pending.get(message.callId);
        this.pending.delete(message.callId);
        if (message.ok) waiter?.resolve(message.value);
        else waiter?.reject(errorFromData(message.error));
      }
    });
  }

  static async start(resultExpires: number | null): Promise<WorkerSide> {
    const child = fork(WORKER_SIDE, [], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, POOL_TEST_URL: url, POOL_TEST_RESULT_EXPIRES: String(resultExpires ?? '') },
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', (batch: FromChild[]) =>
        batch[0]?.t === 'ready'
          ? resolve()
          : reject(new Error(`unexpected first message ${JSON.stringify(batch)}`)),
      );
      child.once('exit', (code) => reject(new Error(`worker side exited with ${code}`)));
    });
    return new WorkerSide(child);
  }

  readonly call: CallParent = (target, method, args) =>
    new Promise((resolve, reject) => {
      const callId = this.nextCall++;
      this.pending.set(callId, { resolve, reject });
      this.child.send([{ t: 'call', callId, target, method, args } satisfies FromChild]);
    });

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }
}

/** One worker side per `resultExpires` the backend suite asks for; the broker suite uses the default one. */
const sides = new Map<number | null, Promise<WorkerSide>>();
function side(resultExpires: number | null = 86_400): Promise<WorkerSide> {
  let started = sides.get(resultExpires);
  if (!started) {
    started = WorkerSide.start(resultExpires);
    sides.set(resultExpires, started);
  }
  return started;
}
const call: CallParent = async (target, method, args) => (await side()).call(target, method, args);

afterAll(async () => {
  await Promise.all([...sides.values()].map(async (s) => (await s).stop()));
  dir.remove();
});

brokerConformance('pool stand-in (ParentBroker over IPC)', {
  create: () => new ParentBroker(url, sqliteCapabilities, call),
  capabilities: standInCapabilities(sqliteCapabilities),
  subscriptions: false,
  reader: () =>
    createSqliteBroker(url, {
      logger: silentLogger(),
      transportOptions: {},
      connectionRetry: false,
      connectionMaxRetries: 0,
      connectionTimeoutMs: 1000,
    }),
  // The worker restarts: its process goes, and a new one opens the file again.
  restartable: async () => ({
    create: () => new ParentBroker(url, sqliteCapabilities, call),
    restart: async () => {
      const old = side();
      sides.delete(86_400);
      await (await old).stop();
    },
    stop: async () => undefined,
  }),
  connection: { url },
});

// The worker's backend says what the stand-in can do (it is the worker's backend that answers).
const sqliteBackendCapabilities: BackendCapabilities = createSqliteBackend(url, {
  logger: silentLogger(),
  resultExpires: null,
  transportOptions: {},
}).capabilities;

backendConformance('pool stand-in (ParentBackend over IPC)', {
  create: async ({ resultExpires }) =>
    new ParentBackend(url, sqliteBackendCapabilities, (await side(resultExpires)).call),
});
