/**
 * Pid files as Celery keeps them (`celery/platforms.py` Pidfile, create_pidlock): the pid and a newline, created
 * exclusively; a pid file whose process is gone (or that cannot be read) is stale and removed with a note on
 * stderr; one whose process runs means the node is already running, and starting fails.
 */
import { closeSync, constants, existsSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';

/** Celery exits with EX_CANTCREAT (73) when the pid file is locked by a running process. */
export const EX_CANTCREAT = 73;

/** Thrown by `createPidlock` when the pid file names a process that is still running. */
export class PidfileLocked extends Error {
  constructor(
    readonly path: string,
    readonly pid: number | null,
  ) {
    super(`Pidfile (${path}) already exists.\nSeems we're already running? (pid: ${pid ?? 'unknown'})`);
    this.name = 'PidfileLocked';
  }
}

/** True when a process with this pid exists (signal 0; EPERM means it exists but is not ours). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A pid file (Celery's `Pidfile`): read, check for a stale one, write exclusively, remove. */
export class Pidfile {
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  /** The pid written in the file; null when there is no file; throws when it is partial or invalid. */
  readPid(): number | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const line = text.split('\n')[0] ?? '';
    if (!text.includes('\n')) throw new Error(`Partial or invalid pidfile ${this.path}`);
    const pid = Number(line.trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`pidfile ${this.path} contents invalid.`);
    return pid;
  }

  isLocked(): boolean {
    return existsSync(this.path);
  }

  /** Removes the file when its process is gone or it is broken; returns whether it was removed. */
  removeIfStale(warn: (message: string) => void = (m) => process.stderr.write(`${m}\n`)): boolean {
    let pid: number | null;
    try {
      pid = this.readPid();
    } catch {
      warn('Broken pidfile found - Removing it.');
      this.remove();
      return true;
    }
    if (pid === null) return true;
    if (!isAlive(pid) || pid === process.pid) {
      warn('Stale pidfile exists - Removing it.');
      this.remove();
      return true;
    }
    return false;
  }

  /** Writes this process's pid, failing if the file appeared meanwhile (O_EXCL). */
  write(pid: number = process.pid): void {
    const fd = openSync(this.path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
    try {
      writeSync(fd, `${pid}\n`);
    } finally {
      closeSync(fd);
    }
  }

  remove(): void {
    try {
      unlinkSync(this.path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EACCES') throw error;
    }
  }

  /** Throws PidfileLocked when a live process holds it; removes a stale one. */
  check(warn?: (message: string) => void): void {
    if (this.isLocked() && !this.removeIfStale(warn)) {
      let pid: number | null = null;
      try {
        pid = this.readPid();
      } catch {
        pid = null;
      }
      throw new PidfileLocked(this.path, pid);
    }
  }
}

/**
 * Celery's `create_pidlock`: checks, writes this process's pid, and removes the file when the process exits
 * (only if it still holds this pid). Returns a function that releases it early.
 */
export function createPidlock(path: string, warn?: (message: string) => void): () => void {
  const pidfile = new Pidfile(path);
  pidfile.check(warn);
  try {
    pidfile.write();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new PidfileLocked(pidfile.path, null);
    throw error;
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      if (pidfile.readPid() === process.pid) pidfile.remove();
    } catch {
      // Someone else's or broken: leave it.
    }
  };
  process.on('exit', release);
  return release;
}
