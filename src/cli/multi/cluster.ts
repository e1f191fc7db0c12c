/**
 * What `celeriac multi` does to its nodes, as `celery/apps/multi.py` Cluster: start each (a detached
 * `celeriac worker`), signal them through their pid files, wait for them to go, restart them. Output follows
 * Celery's (`> Starting nodes...`, `\t> w1@host: OK`).
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, Pidfile } from '../../index.js';
import type { MultiNode } from './nodes.js';

export interface Say {
  (line: string, newline?: boolean): void;
}

/** The command that starts one node: this very program, so `multi` and its workers run the same code. */
export function nodeCommand(node: MultiNode): string[] {
  return [
    process.execPath,
    ...process.execArgv,
    process.argv[1]!,
    ...node.globalArgv,
    'worker',
    '--detach',
    ...node.argv,
  ];
}

export function nodePid(node: MultiNode): number | null {
  try {
    return new Pidfile(node.pidfile).readPid();
  } catch {
    return null;
  }
}

/** Starts one node and resolves with the exit code of its `worker --detach` (0 once it runs). */
export function startNode(node: MultiNode, verbose: boolean, say: Say): Promise<number> {
  for (const file of [node.pidfile, node.logfile]) mkdirSync(dirname(file), { recursive: true });
  const [command, ...args] = nodeCommand(node);
  if (verbose) say(`  ${[command, ...args].join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(command!, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (error) => {
      say(`* Could not start ${node.name}: ${error.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      if (signal) say(`* Child was terminated by signal ${constants.signals[signal] ?? signal}`);
      else if (code) say(`* Child terminated with exit code ${code}`);
      resolve(signal ? 1 : (code ?? 1));
    });
  });
}

export async function startNodes(nodes: readonly MultiNode[], verbose: boolean, say: Say): Promise<number> {
  say('> Starting nodes...');
  let failed = false;
  for (const node of nodes) {
    say(`\t> ${node.name}: `, false);
    const code = await startNode(node, verbose, say);
    say(code === 0 ? 'OK' : 'FAILED');
    failed ||= code !== 0;
  }
  return failed ? 1 : 0;
}

function send(node: MultiNode, pid: number, signal: NodeJS.Signals, say: Say): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    say(`Could not signal ${node.name} (${pid}): No such process`);
    return false;
  }
}

/**
 * Sends `signal` to every node that has a pid file; with `wait`, polls until each is gone, calling `onDown` for
 * each as it goes (restart starts it again there). Nodes without a pid file are reported DOWN.
 */
export async function stopNodes(
  nodes: readonly MultiNode[],
  signal: NodeJS.Signals,
  say: Say,
  options: { wait: boolean; onDown?: (node: MultiNode) => Promise<void> },
): Promise<void> {
  const running = new Map<MultiNode, number>();
  for (const node of nodes) {
    const pid = nodePid(node);
    if (pid === null) {
      say(`> ${node.name}: DOWN`);
      await options.onDown?.(node);
    } else running.set(node, pid);
  }
  if (running.size === 0) return;
  say('> Stopping nodes...');
  for (const [node, pid] of [...running]) {
    say(`\t> ${node.name}: ${signal.replace(/^SIG/, '')} -> ${pid}`);
    if (!send(node, pid, signal, say)) {
      running.delete(node);
      await options.onDown?.(node);
    }
  }
  if (!options.wait || running.size === 0) return;
  say(
    `> Waiting for ${running.size} ${running.size === 1 ? 'node' : 'nodes'} -> ${[...running.values()].join(', ')}...`,
    false,
  );
  let polls = 0;
  while (running.size > 0) {
    for (const [node, pid] of [...running]) {
      if (isAlive(pid)) continue;
      running.delete(node);
      say(`\n\t> ${node.name}: OK`);
      await options.onDown?.(node);
      if (running.size > 0)
        say(
          `> Waiting for ${running.size} ${running.size === 1 ? 'node' : 'nodes'} -> ${[...running.values()].join(', ')}...`,
          false,
        );
    }
    if (running.size === 0) break;
    await sleep(100);
    if (++polls % 10 === 0) say('.', false);
  }
  say('');
}

export function killNodes(nodes: readonly MultiNode[], say: Say): void {
  for (const node of nodes) {
    const pid = nodePid(node);
    if (pid === null) {
      say(`> ${node.name}: DOWN`);
      continue;
    }
    say(`Sending SIGKILL to node ${node.name} (${pid})`);
    send(node, pid, 'SIGKILL', say);
  }
}
