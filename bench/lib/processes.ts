/**
 * Worker processes for the benchmark: every worker (Celeriac, Celery, BullMQ) runs in its own process, prints
 * BENCH-READY when it consumes, and is measured from the outside (resident memory of its process tree).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const READY = 'BENCH-READY';
export const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));
export const PYTHON_DIR = fileURLToPath(new URL('../python/', import.meta.url));

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Resolves once the worker printed BENCH-READY; rejects if it exits first or takes longer than `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /** Resident memory of the process and its descendants (prefork children, threads share it), in KiB. */
  rssKiB(): number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  output(): string;
}

export function startWorker(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd = BENCH_DIR,
): WorkerProcess {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let isReady = false;
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    if (text.length > 200_000) text = text.slice(-100_000);
    if (!isReady && text.includes(READY)) isReady = true;
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => {
    for (const waiter of [...waiters]) waiter();
  });
  return {
    child,
    output: () => text,
    ready(timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`${command} ${args.join(' ')} was not ready after ${timeoutMs} ms; output:\n${text}`),
          );
        }, timeoutMs);
        const check = (): void => {
          if (isReady) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`${command} ${args.join(' ')} exited before it was ready; output:\n${text}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    rssKiB: () => (child.pid === undefined ? 0 : treeRssKiB(child.pid)),
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function statusRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // the process exited meanwhile
  }
  return out;
}

function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Sum of VmRSS over a process and all its descendants (Linux /proc), in KiB. The esbuild service that the tsx
 * loader starts next to a TypeScript worker is not counted: a deployed worker runs compiled JavaScript.
 */
export function treeRssKiB(pid: number): number {
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (next !== pid && commandName(next) === 'esbuild') continue;
    total += statusRss(next);
    stack.push(...childrenOf(next));
  }
  return total;
}

/** Runs a command to completion and returns its stdout; rejects with its output on a non-zero exit. */
export function runToEnd(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${err.slice(-4000)}`));
    });
  });
}

export interface UntilOptions {
  timeoutMs: number;
  what: string;
  everyMs?: number;
  /**
   * A cheap measure of work left (queue length...), read every few seconds: if it has not changed for `stallMs`,
   * the wait fails as stalled instead of running into the timeout.
   */
  progress?: () => Promise<number>;
  stallMs?: number;
}

export async function until(check: () => Promise<boolean>, options: UntilOptions): Promise<void> {
  const { timeoutMs, what, everyMs = 10, progress, stallMs = 30_000 } = options;
  const deadline = Date.now() + timeoutMs;
  let last = Number.NaN;
  let lastChange = Date.now();
  let nextProbe = Date.now() + 2000;
  while (!(await check())) {
    const now = Date.now();
    if (now > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    if (progress && now >= nextProbe) {
      nextProbe = now + 2000;
      const left = await progress();
      if (left !== last) {
        last = left;
        lastChange = now;
      } else if (now - lastChange > stallMs) {
        throw new Error(`stalled: no progress for ${stallMs / 1000} s waiting for ${what} (${left} left)`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
