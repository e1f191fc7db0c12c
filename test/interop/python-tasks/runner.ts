/**
 * Runs the Python side of the task interop tests (client.py, and a Python Celery worker) with the system Python,
 * where Debian's Celery 5.2.6 is installed (`/usr/bin/python3`, not the first python3 on PATH).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
export const HARNESS_DIR = fileURLToPath(new URL('./', import.meta.url));
/** The Redis database these test files own: they never flush it, every queue name is unique per run. */
export const INTEROP_REDIS = process.env.CELERIAC_INTEROP_REDIS ?? 'redis://127.0.0.1:6379/14';

const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  CELERIAC_INTEROP_REDIS: INTEROP_REDIS,
  PYTHONUNBUFFERED: '1',
});

/** Runs `client.py ...args` and returns the JSON line it prints; rejects with its output if it fails. */
export function client<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['client.py', ...args], { cwd: HARNESS_DIR, env: env() });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) {
        reject(new Error(`client.py ${args.join(' ')} exited ${code}:\n${out}\n${err}`));
        return;
      }
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`client.py ${args.join(' ')} printed no JSON:\n${out}\n${err}`));
      }
    });
  });
}

/** What `client.py wait` prints: the task as Python's AsyncResult sees it. */
export interface PythonView {
  state: string;
  retries: number | null;
  name: string | null;
  has_traceback: boolean;
  result?: unknown;
  exception?: { type: string; module: string; args: string[] };
}

export interface PythonWorker {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `celery worker -P solo -Q queue` with tasks_app and resolves once it is ready. */
export async function startPythonWorker(queue: string, timeoutMs = 30_000): Promise<PythonWorker> {
  const child = spawn(
    PYTHON,
    [
      '-m',
      'celery',
      '-A',
      'tasks_app',
      'worker',
      '-P',
      'solo',
      '-Q',
      queue,
      '-l',
      'info',
      '-n',
      `${queue}@%h`,
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
    ],
    { cwd: HARNESS_DIR, env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Python worker not ready in ${timeoutMs} ms:\n${text}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      if (/ ready\./.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Python worker exited (${code}) before it was ready:\n${text}`));
    });
  });
  return {
    child,
    output: () => text,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
