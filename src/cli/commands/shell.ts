/**
 * `celeriac shell`: a Node REPL with the app loaded, as Celery's `celery shell`: `app` (and `celery`), every task
 * by the last segment of its name (`add` for `tasks.add`), the whole registry as `tasks`, and the canvas
 * primitives. Top-level `await` works (`await add.delay(2, 2).get()`).
 */
import type { Command } from 'commander';
import { start } from 'node:repl';
import { chain, chord, group, signature, Signature, type Celery } from '../../index.js';
import { loadApp } from '../load-app.js';
import { globalOptions } from '../main.js';

const RESERVED = new Set(['app', 'celery', 'tasks', 'chain', 'chord', 'group', 'signature', 'Signature']);

/** What the shell binds: the app, the canvas and each user task under its short name (first one wins). */
export function shellContext(app: Celery): { context: Record<string, unknown>; taskNames: string[] } {
  const context: Record<string, unknown> = { app, celery: app, chain, chord, group, signature, Signature };
  const tasks: Record<string, unknown> = {};
  const taskNames: string[] = [];
  for (const [name, task] of [...app.tasks].sort(([a], [b]) => a.localeCompare(b))) {
    tasks[name] = task;
    if (name.startsWith('celery.')) continue;
    const short = name.split('.').pop() ?? name;
    if (RESERVED.has(short) || short in context) continue;
    context[short] = task;
    taskNames.push(short);
  }
  context.tasks = tasks;
  return { context, taskNames };
}

export function registerShell(program: Command): void {
  program
    .command('shell')
    .description('a Node REPL with the app (app, celery), its tasks by short name and tasks (all of them)')
    .action(async (_flags: unknown, command: Command) => {
      const app = await loadApp(globalOptions(command));
      const { context, taskNames } = shellContext(app);
      process.stdout.write(
        `celeriac shell: app ${app.main} (also as celery), tasks: ${taskNames.join(', ') || '(none)'}; ` +
          'tasks holds them all; chain, group, chord, signature; .exit to leave\n',
      );
      const repl = start({ prompt: 'celeriac> ', useGlobal: false, ignoreUndefined: true });
      Object.assign(repl.context, context);
      await new Promise<void>((resolve) => repl.on('exit', resolve));
      await app.close();
    });
}
