/**
 * The `celeriac` command line. Commands use only the public API. Errors are printed to stderr as one message
 * (no stack trace) with a non-zero exit code.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { isCeleriacError } from '../index.js';
import { registerBeat } from './commands/beat.js';
import { registerCall } from './commands/call.js';
import { registerEvents } from './commands/events.js';
import { registerControl } from './commands/control.js';
import { registerInspect } from './commands/inspect.js';
import { registerMulti } from './commands/multi.js';
import { registerPurge } from './commands/purge.js';
import { registerResult } from './commands/result.js';
import { registerStatus } from './commands/status.js';
import { registerWorker } from './commands/worker.js';
import type { GlobalOptions } from './load-app.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

/** An error meant for the user: printed as its message, exit code `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

export function buildProgram(): Command {
  const program = new Command('celeriac')
    .description(
      'Celeriac: Celery for Node.js. A distributed task queue, wire-compatible with Python Celery.',
    )
    .version(pkg.version, '-V, --version')
    .option(
      '-A, --app <module>',
      'module exporting the app (named "app" or default), e.g. ./tasks.ts or ./tasks.ts:app',
    )
    .option(
      '-b, --broker <url>',
      'broker URL, overrides the app setting (sqlite://..., redis://..., amqp://...)',
    )
    .option('--result-backend <url>', 'result backend URL, overrides the app setting')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerWorker(program);
  registerBeat(program);
  registerCall(program);
  registerResult(program);
  registerPurge(program);
  registerMulti(program);
  registerEvents(program);
  registerInspect(program);
  registerControl(program);
  registerStatus(program);
  return program;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError) {
      process.stderr.write(`Error: ${error.message}\n`);
      return error.code;
    }
    if (isCeleriacError(error) || error instanceof TypeError) {
      process.stderr.write(`Error: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.CELERIAC_DEBUG) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    return 1;
  }
}
