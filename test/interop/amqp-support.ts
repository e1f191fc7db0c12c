/**
 * Processes for the AMQP interop tests: Celeriac workers (the CLI from source, with fixtures/amqp-app.ts), Python
 * Celery 5.2.6 workers (`/usr/bin/python3 -m celery`, with python-amqp/interop_app.py), and a Python client that
 * sends tasks and reads results on command (python-amqp/driver.py).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { uuid } from '../../src/protocol/ids.js';
import { startCli, watchProcess, type RunningProcess } from '../support/processes.js';

export const PYTHON = '/usr/bin/python3';
export const PYTHON_DIR = fileURLToPath(new URL('./python-amqp/', import.meta.url));
export const TS_APP = 'test/interop/fixtures/amqp-app.ts';

export type InteropBackend = 'rpc' | 'redis';

/** The result backend URL both sides use. Redis results live under task-id keys in db 11, never flushed. */
export function backendUrl(backend: InteropBackend): string {
  return backend === 'rpc' ? 'rpc://' : 'redis://127.0.0.1:6379/11';
}

export interface InteropEnv {
  readonly broker: string;
  readonly backend: InteropBackend;
  readonly queue: string;
}

/** Any command, with its output collected so tests can await a line (as startCli does for the CLI). */
export function startProcess(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): RunningProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return watchProcess(child, 30_000);
}

/** Stops a process: SIGTERM (warm shutdown), then SIGKILL if it is still there after `graceMs`. */
export async function stopProcess(proc: RunningProcess, graceMs = 10_000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await proc.exited();
  clearTimeout(timer);
}

/** `celeriac worker` on the interop app; resolves once it is ready. */
export async function startCeleriacWorker(
  env: InteropEnv,
  extraEnv: NodeJS.ProcessEnv = {},
  concurrency = 4,
): Promise<RunningProcess> {
  const proc = startCli(
    [
      '-A',
      TS_APP,
      'worker',
      '-Q',
      env.queue,
      '-l',
      'info',
      '-c',
      String(concurrency),
      '-n',
      `ts-${uuid().slice(0, 6)}@%h`,
    ],
    {
      env: {
        CELERIAC_BROKER_URL: env.broker,
        CELERIAC_RESULT_BACKEND: backendUrl(env.backend),
        ...extraEnv,
      },
    },
  );
  await proc.waitFor(/ ready\.$/, 30_000);
  return proc;
}

function pythonEnv(env: InteropEnv): NodeJS.ProcessEnv {
  return {
    INTEROP_BROKER: env.broker,
    INTEROP_BACKEND: backendUrl(env.backend),
    INTEROP_QUEUE: env.queue,
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
  };
}

/**
 * A Python Celery worker (no gossip, mingle or heartbeat); resolves once it is ready. The solo pool: Celery
 * 5.2's threads pool with the rpc backend stalls results for about ten seconds and does not stop on SIGTERM.
 */
export async function startPythonWorker(env: InteropEnv): Promise<RunningProcess> {
  const proc = startProcess(
    PYTHON,
    [
      '-m',
      'celery',
      '-A',
      'interop_app',
      'worker',
      '-l',
      'info',
      '-P',
      'solo',
      '-Q',
      env.queue,
      '-n',
      `py-${uuid().slice(0, 6)}@%h`,
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
    ],
    { cwd: PYTHON_DIR, env: pythonEnv(env) },
  );
  await proc.waitFor(/ ready\.$/, 30_000);
  return proc;
}

export interface PythonResult {
  status: string;
  result?: unknown;
  exc_type?: string | null;
  exc_message?: string | null;
  traceback?: string | null;
  error?: string;
}

/** The Python client (driver.py): sends tasks with Celery's own send_task and reads their results. */
export class PythonClient {
  private readonly proc: RunningProcess;
  private buffer = '';
  private readonly answers: ((line: string) => void)[] = [];

  constructor(env: InteropEnv) {
    this.proc = startProcess(PYTHON, ['driver.py'], { cwd: PYTHON_DIR, env: pythonEnv(env) });
    this.proc.child.stdout!.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        this.answers.shift()?.(line);
      }
    });
  }

  private async command<T>(cmd: Record<string, unknown>): Promise<T> {
    const line = await new Promise<string>((resolve, reject) => {
      this.answers.push(resolve);
      void this.proc.exited().then(() => reject(new Error(`driver.py exited:\n${this.proc.output()}`)));
      this.proc.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    });
    const answer = JSON.parse(line) as T & { error?: string };
    if (answer.error) throw new Error(`driver.py: ${answer.error}`);
    return answer;
  }

  /** Celery's `app.send_task(name, args, kwargs, **options)`; returns the task id. */
  async send(
    name: string,
    args: unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: Record<string, unknown> = {},
  ): Promise<string> {
    return (await this.command<{ id: string }>({ op: 'send', name, args, kwargs, options })).id;
  }

  /** `AsyncResult(id).get(timeout, propagate=False)`, as a status and value or exception. */
  get(id: string, timeout = 30): Promise<PythonResult> {
    return this.command<PythonResult>({ op: 'get', id, timeout });
  }

  async state(id: string): Promise<string> {
    return (await this.command<{ status: string }>({ op: 'state', id })).status;
  }

  async close(): Promise<void> {
    this.proc.child.stdin!.end();
    await stopProcess(this.proc, 5_000);
  }
}
