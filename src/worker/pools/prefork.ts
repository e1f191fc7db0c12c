/**
 * `prefork`: tasks run in child processes (`child_process.fork`, structured-clone IPC), like Celery's default
 * pool. A process can be killed whatever its task is doing, so hard time limits always hold, and a task that
 * leaks memory or crashes takes only its own process down. Children share the worker's process group but ignore
 * group-wide SIGTERM/SIGINT (child-main.ts); the worker asks them to exit, and SIGKILLs those that do not.
 */
import { fork } from 'node:child_process';
import { CHILD_INIT_ENV, type FromChild } from './ipc.js';
import { ChildPool, type ChildPoolOptions } from './child-pool.js';
import { childMainPath, forwardLines, humanStatus, inheritedExecArgv, tsxUrls } from './child-entry.js';
import type { SpawnChild } from './pool-child.js';

/** How long a child whose task hit its hard limit gets to exit before SIGKILL. */
export const PREFORK_KILL_GRACE_MS = 1_000;

export const spawnProcess: SpawnChild = (init, events) => {
  const tsx = tsxUrls();
  const child = fork(childMainPath(), [], {
    execArgv: [...inheritedExecArgv(), ...(tsx ? ['--import', tsx.loader] : [])],
    serialization: 'advanced',
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, [CHILD_INIT_ENV]: JSON.stringify(init) },
  });
  let exited = false;
  child.on('message', (batch) => events.onMessages(batch as FromChild[]));
  child.on('exit', (code, signal) => {
    exited = true;
    events.onExit({ description: humanStatus(code, signal) });
  });
  child.on('error', (error) => {
    // A process that could not be spawned at all emits no exit event.
    if (child.pid === undefined && !exited) {
      exited = true;
      events.onExit({ description: `spawn error (${error.message})` });
    }
  });
  forwardLines(child.stdout, (line) => events.onOutput(line));
  forwardLines(child.stderr, (line) => events.onOutput(line));
  return {
    pid: child.pid ?? -1,
    id: child.pid ?? -1,
    send: (batch) => {
      if (child.connected) child.send(batch);
    },
    kill: () => {
      if (!exited) child.kill('SIGKILL');
    },
  };
};

export function createPreforkPool(
  options: Omit<ChildPoolOptions, 'kind' | 'spawn' | 'processName' | 'killGraceMs'>,
): ChildPool {
  return new ChildPool({
    ...options,
    kind: 'prefork',
    spawn: spawnProcess,
    processName: 'ForkPoolWorker',
    killGraceMs: PREFORK_KILL_GRACE_MS,
  });
}
