/**
 * Python Celery 5.2.6 (Debian's python3-celery, run with /usr/bin/python3) for the interop tests: a worker process
 * whose log lines can be awaited, and a producer that runs a plan of calls (test/interop/python/produce.py).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { watchProcess } from './processes.js';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
export const PYTHON_DIR = fileURLToPath(new URL('../interop/python/', import.meta.url));

export interface PythonWorker {
  readonly child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Warm shutdown (SIGTERM), resolved when the process has exited. */
  stop(): Promise<void>;
}

/** Starts `celery -A interop_app worker` and resolves once it is ready to consume. */
export async function startPythonWorker(options: {
  env: NodeJS.ProcessEnv;
  queues: readonly string[];
  /** The node name; `@%h` is added unless it has an `@`. */
  name: string;
  pool?: 'solo' | 'threads';
  concurrency?: number;
  /** The app module (default interop_app) in `dir` (default test/interop/python/). */
  app?: string;
  dir?: string;
  /** `-E`: task events (default off). */
  events?: boolean;
  /** Heartbeats (default off: `--without-heartbeat`). */
  heartbeat?: boolean;
  /** Gossip and mingle with the other workers (default off: `--without-gossip --without-mingle`). */
  mingle?: boolean;
  /** How long start-up and each awaited log line may take (default 30 s). */
  timeoutMs?: number;
}): Promise<PythonWorker> {
  const args = [
    '-m',
    'celery',
    '-A',
    options.app ?? 'interop_app',
    'worker',
    '-P',
    options.pool ?? 'solo',
    '-Q',
    options.queues.join(','),
    '-n',
    options.name.includes('@') ? options.name : `${options.name}@%h`,
    '-l',
    'info',
  ];
  if (options.events) args.push('-E');
  if (!options.mingle) args.push('--without-gossip', '--without-mingle');
  if (!options.heartbeat) args.push('--without-heartbeat');
  if (options.concurrency !== undefined) args.push('-c', String(options.concurrency));
  const child = spawn(PYTHON, args, {
    cwd: options.dir ?? PYTHON_DIR,
    env: { ...process.env, ...options.env, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const io = watchProcess(child, options.timeoutMs ?? 30_000);
  const worker: PythonWorker = {
    child,
    output: () => io.output(),
    waitFor: (pattern, timeoutMs) => io.waitFor(pattern, timeoutMs),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await io.exited();
    },
  };
  await io.waitFor(/ ready\.$/);
  return worker;
}

export interface PlanStep {
  ref: string;
  task: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: Record<string, unknown>;
}

export interface Outcome {
  ok: boolean;
  result?: unknown;
  type?: string;
  module?: string;
  message?: string;
  exc_args?: unknown[];
  id: string;
  status: string | null;
  name: string | null;
  args: unknown;
  kwargs: unknown;
  worker: string | null;
  queue: string | null;
  retries: number | null;
}

export interface Report {
  sent: Record<string, { id: string }>;
  got: Record<string, Outcome>;
  read: Record<string, Omit<Outcome, 'ok'>>;
}

/** Runs test/interop/python/produce.py with `plan` on stdin; resolves with its report. */
export function runPythonPlan(
  plan: {
    send?: PlanStep[];
    get?: { ref?: string; id?: string; timeout?: number }[];
    read?: { id: string }[];
  },
  env: NodeJS.ProcessEnv,
): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['produce.py'], {
      cwd: PYTHON_DIR,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`produce.py exited with ${code}:\n${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as Report);
      } catch {
        reject(new Error(`produce.py printed no report:\n${stdout}\n${stderr}`));
      }
    });
    child.stdin.end(JSON.stringify(plan));
  });
}

export interface CanvasOutcome {
  id: string;
  result?: unknown;
  error?: { type: string; message: string };
}

/** Runs test/interop/python/canvas.py (`chord N`, `chain PYQ TSQ` or `get ID`); resolves with what it printed. */
export function runPythonCanvas(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CanvasOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['canvas.py', ...args], { cwd: PYTHON_DIR, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as CanvasOutcome);
      else reject(new Error(`canvas.py ${args.join(' ')} exited with ${code}:\n${stderr}`));
    });
  });
}

/** Runs kombu's restore of stale unacked messages once (test/interop/python/restore.py). */
export function runPythonRestore(env: NodeJS.ProcessEnv): Promise<{ unacked: string[]; index: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['restore.py'], { cwd: PYTHON_DIR, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as { unacked: string[]; index: string[] });
      else reject(new Error(`restore.py exited with ${code}:\n${stderr}`));
    });
  });
}
