/**
 * Running the worker in the background (`--detach`) and restarting it (SIGHUP). Node cannot fork() or execv(), so
 * both start a new process with the same program and arguments:
 * - `--detach` starts a detached copy in its own session, output to the log file, and waits until that copy has
 *   taken its pid file (or failed, with the error printed here), then exits 0 (Celery's `detached()`);
 * - a SIGHUP restart starts a copy after the warm shutdown; a detached worker exits and leaves it running, a
 *   foreground one stays as the copy's parent (`restartLoop`), so the shell or supervisor still sees one job
 *   with the same pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/** Set in a detached worker's environment; its parent waits for a message on the IPC channel. */
export const DETACHED_ENV = 'CELERIAC_DETACHED';

export type DetachReport = { readonly ok: true } | { readonly ok: false; readonly message: string };

/** This process's command line without the given flags: program path, then CLI arguments. */
function commandLine(without: readonly string[] = []): string[] {
  return [process.argv[1]!, ...process.argv.slice(2).filter((arg) => !without.includes(arg))];
}

/**
 * Starts this command again, detached, and resolves with the exit code to use here: 0 once the detached worker
 * reported that it started, else its error code (the message already printed).
 */
export async function detach(logfile: string | null): Promise<number> {
  let fd: number | 'ignore' = 'ignore';
  if (logfile) {
    mkdirSync(dirname(logfile), { recursive: true });
    fd = openSync(logfile, 'a');
  }
  const child = spawn(process.execPath, [...process.execArgv, ...commandLine(['--detach', '-D'])], {
    detached: true,
    stdio: ['ignore', fd, fd, 'ipc'],
    env: { ...process.env, [DETACHED_ENV]: '1' },
  });
  if (typeof fd === 'number') closeSync(fd);
  const code = await new Promise<number>((resolve) => {
    child.once('message', (report: DetachReport) => {
      if (!report.ok) process.stderr.write(`Error: ${report.message}\n`);
      resolve(report.ok ? 0 : 1);
    });
    child.once('exit', (exitCode, signal) => {
      process.stderr.write(
        `Error: the detached worker exited with ${signal ?? `code ${exitCode}`} before it started` +
          (logfile ? ` (see ${logfile})\n` : '\n'),
      );
      resolve(exitCode ?? 1);
    });
    child.once('error', (error) => {
      process.stderr.write(`Error: could not start the detached worker: ${error.message}\n`);
      resolve(1);
    });
  });
  child.removeAllListeners();
  if (child.connected) child.disconnect();
  child.unref();
  return code;
}

/** In a detached worker: tells the waiting parent how starting went, then lets go of it. */
export function reportToDetachParent(report: DetachReport): Promise<void> {
  if (process.env[DETACHED_ENV] !== '1' || !process.send || !process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    process.send!(report, undefined, {}, () => {
      if (process.connected) process.disconnect();
      resolve();
    });
  });
}

export function isDetached(): boolean {
  return process.env[DETACHED_ENV] === '1';
}

/** Set in a worker started by a foreground worker's SIGHUP restart: it exits with EX_RESTART to be restarted. */
export const RESTARTED_ENV = 'CELERIAC_RESTARTED';

/** Exit code asking the foreground process that started this worker to start it again (EX_TEMPFAIL). */
export const EX_RESTART = 75;

/** True when this worker was started by a foreground worker that waits for it (see `restartLoop`). */
export function isRestartedChild(): boolean {
  return process.env[RESTARTED_ENV] === '1' && !isDetached();
}

/** Starts a copy of this process (SIGHUP restart): same program, flags, arguments and output. */
export function respawn(): ChildProcess {
  const detached = isDetached();
  const child = spawn(process.execPath, [...process.execArgv, ...commandLine()], {
    detached,
    stdio: 'inherit',
    env: detached ? process.env : { ...process.env, [RESTARTED_ENV]: '1' },
  });
  if (detached) child.unref();
  return child;
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'] as const;

/**
 * A foreground worker after its first SIGHUP: it keeps the pid its supervisor knows and runs its replacement,
 * starting it again each time it asks (exit code EX_RESTART), and exits with its exit code otherwise. SIGHUP is
 * passed on (systemd's `ExecReload=kill -HUP $MAINPID` keeps working); other signals are ignored here, as they
 * reach the replacement directly (same process group, same cgroup) and forwarding them would double them.
 */
export async function restartLoop(): Promise<number> {
  let child = respawn();
  const forward = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGHUP') child.kill('SIGHUP');
  };
  for (const signal of SIGNALS) process.on(signal, forward);
  try {
    for (;;) {
      const code = await new Promise<number>((resolve) => {
        child.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
        child.once('error', () => resolve(1));
      });
      if (code !== EX_RESTART) return code;
      child = respawn();
    }
  } finally {
    for (const signal of SIGNALS) process.off(signal, forward);
  }
}
