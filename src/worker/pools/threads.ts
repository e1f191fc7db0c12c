/**
 * `threads`: tasks run in worker_threads, one isolate each, in the worker's process. Cheaper to start than
 * processes and with faster messaging; `worker.terminate()` stops a thread even in the middle of a loop, so hard
 * time limits hold. A thread cannot be killed by a signal; it is lost when its task calls `process.exit()`, when it
 * runs out of heap (ERR_WORKER_OUT_OF_MEMORY) or when an error escapes it. Memory for maxMemoryPerChild is the
 * thread's own V8 heap plus its external memory (buffers), as RSS belongs to the whole process.
 */
import { pathToFileURL } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import type { FromChild } from './ipc.js';
import { ChildPool, type ChildPoolOptions } from './child-pool.js';
import { childMainPath, forwardLines, tsxUrls } from './child-entry.js';
import type { SpawnChild } from './pool-child.js';

/**
 * A thread runs a small script that registers tsx (from source only) and then imports the child program; a thread
 * does not inherit the hooks `--import tsx` installed in the main thread.
 */
function bootstrap(): string {
  const tsx = tsxUrls();
  const entry = JSON.stringify(pathToFileURL(childMainPath()).href);
  const register = tsx
    ? `(await import(${JSON.stringify(tsx.cjsApi)})).register();
       (await import(${JSON.stringify(tsx.esmApi)})).register();
       globalThis[Symbol.for('celeriac.tsxRegistered')] = true;`
    : '';
  return `(async () => { ${register} await import(${entry}); })().catch((error) => { setImmediate(() => { throw error; }); });`;
}

export const spawnThread: SpawnChild = (init, events) => {
  const thread = new Thread(bootstrap(), {
    eval: true,
    workerData: init,
    stdout: true,
    stderr: true,
    execArgv: [],
  });
  let failure: Error | undefined;
  let exited = false;
  thread.on('message', (batch) => events.onMessages(batch as FromChild[]));
  thread.on('error', (error) => (failure = error));
  thread.on('exit', (code) => {
    exited = true;
    const reason = failure ? ` (${failure.name}: ${failure.message})` : '';
    events.onExit({ description: `exitcode ${code}${reason}` });
  });
  forwardLines(thread.stdout, (line) => events.onOutput(line));
  forwardLines(thread.stderr, (line) => events.onOutput(line));
  return {
    pid: process.pid,
    id: thread.threadId,
    send: (batch) => {
      if (!exited) thread.postMessage(batch);
    },
    kill: () => {
      if (!exited) void thread.terminate();
    },
  };
};

export function createThreadsPool(
  options: Omit<ChildPoolOptions, 'kind' | 'spawn' | 'processName' | 'killGraceMs'>,
): ChildPool {
  return new ChildPool({
    ...options,
    kind: 'threads',
    spawn: spawnThread,
    processName: 'ThreadPoolWorker',
    killGraceMs: 0,
  });
}
