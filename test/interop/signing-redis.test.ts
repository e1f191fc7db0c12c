/**
 * Signed messages between Python Celery 5.2.6 and Celeriac on Redis, both set up as Celery's Security guide says
 * (task_serializer 'auth', accept_content ['auth'], keys and certificates made by openssl here): Python signs and
 * a Celeriac worker verifies and runs; Celeriac signs and a Python worker verifies and runs; a Celeriac
 * strict-mode message is refused by the Python worker (it is documented as not readable by Python).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, Worker } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { makeSigner, type Signer } from '../support/certificates.js';
import { PYTHON, PYTHON_DIR, startPythonWorker, type PythonWorker } from '../support/python.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);
const prefix = testPrefix('interop-signing');
const pyQueue = `signed-py-${uuid().slice(0, 8)}`;
const tsQueue = `signed-ts-${uuid().slice(0, 8)}`;
const sha512Queue = `${tsQueue}-sha512`;
const dir = tempDir('interop-signing');
const store = join(dir.path, 'store');
const redis = testClient();
const ids: string[] = [];
let celeriac: Signer;
let python: Signer;
let pyWorker: PythonWorker;
let tsWorker: Worker;
let sha512Worker: Worker;
let app: Celery;
let strictApp: Celery;

function pythonEnv(): NodeJS.ProcessEnv {
  return {
    SECURE_BROKER: REDIS_URL,
    SECURE_PREFIX: prefix,
    SECURE_QUEUE: pyQueue,
    SECURE_KEY: python.key,
    SECURE_CERT: python.cert,
    SECURE_STORE: join(store, '*.pem'),
  };
}

function signedApp(name: string, digest = 'sha256'): Celery {
  const out = new Celery(name, {
    securityDigest: digest,
    broker: REDIS_URL,
    backend: REDIS_URL,
    brokerTransportOptions: { global_keyprefix: prefix },
    resultExpires: 600,
    taskSerializer: 'auth',
    acceptContent: ['auth'],
    resultAcceptContent: ['json'],
    securityKey: celeriac.key,
    securityCertificate: celeriac.cert,
    securityCertStore: join(store, '*.pem'),
  });
  out.logger = silentLogger();
  return out;
}

beforeAll(async () => {
  celeriac = makeSigner(join(dir.path, 'celeriac'), 'celeriac-producer');
  python = makeSigner(join(dir.path, 'python'), 'python-producer');
  mkdirSync(store);
  copyFileSync(celeriac.cert, join(store, 'celeriac.pem'));
  copyFileSync(python.cert, join(store, 'python.pem'));
  app = signedApp('signing-interop').setupSecurity();
  app.task('secure.add', (x: number, y: number) => x + y);
  strictApp = signedApp('signing-interop-strict').setupSecurity({ strict: true });
  tsWorker = new Worker(app, { queues: [tsQueue], logger: silentLogger() });
  const sha512App = signedApp('signing-interop-sha512', 'sha512').setupSecurity();
  sha512App.task('secure.add', (x: number, y: number) => x + y);
  sha512Worker = new Worker(sha512App, { queues: [sha512Queue], logger: silentLogger() });
  [pyWorker] = await Promise.all([
    startPythonWorker({
      env: pythonEnv(),
      queues: [pyQueue],
      name: `py-signed-${uuid().slice(0, 6)}`,
      app: 'secure_app',
    }),
    tsWorker.start(),
    sha512Worker.start(),
  ]);
});

afterAll(async () => {
  await Promise.all([pyWorker?.stop(), tsWorker?.stop(), sha512Worker?.stop()]);
  await Promise.all([app?.close(), strictApp?.close()]);
  if (ids.length > 0) await redis.del(...ids.map((id) => `celery-task-meta-${id}`));
  await deletePrefix(redis, prefix);
  redis.disconnect();
  dir.remove();
});

describe('signed messages between Python Celery and Celeriac (Redis)', () => {
  it('Python signs, a Celeriac worker verifies and runs, Python reads the result', async () => {
    const { stdout } = await run(PYTHON, ['secure_app.py', tsQueue, 'secure.add', '20', '22'], {
      cwd: PYTHON_DIR,
      env: { ...process.env, ...pythonEnv() },
      timeout: 60_000,
    });
    const report = JSON.parse(stdout) as { id: string; result: number };
    ids.push(report.id);
    expect(report.result).toBe(42);
  });

  it('verifies what Python signs with sha512 (app.setup_security(digest=...)) on a Celeriac worker set to sha512', async () => {
    const { stdout } = await run(PYTHON, ['secure_app.py', sha512Queue, 'secure.add', '1', '2'], {
      cwd: PYTHON_DIR,
      env: { ...process.env, ...pythonEnv(), SECURE_DIGEST: 'sha512' },
      timeout: 60_000,
    });
    const report = JSON.parse(stdout) as { id: string; result: number };
    ids.push(report.id);
    expect(report.result).toBe(3);
  });

  it('Celeriac signs, a Python worker (accept_content=["auth"]) verifies and runs', async () => {
    const result = await app.sendTask<number>('secure.add', [2, 3], {}, { queue: pyQueue });
    ids.push(result.id);
    expect(await result.get({ timeout: 30 })).toBe(5);
    await pyWorker.waitFor(new RegExp(`Task secure.add\\[${result.id}\\] succeeded`));
  });

  it('a Python worker refuses a strict-mode message (not readable by Python), and keeps running', async () => {
    const strict = await strictApp.sendTask('secure.add', [1, 1], {}, { queue: pyQueue });
    ids.push(strict.id);
    await pyWorker.waitFor(/ContentDisallowed.*application\/x-celeriac-signed/, 30_000);
    const next = await app.sendTask<number>('secure.add', [4, 4], {}, { queue: pyQueue });
    ids.push(next.id);
    expect(await next.get({ timeout: 30 })).toBe(8);
  });
});
