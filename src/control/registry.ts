/**
 * Commands users add with `app.control.command(name, handler, { type })` (Celery's `@control_command` and
 * `@inspect_command`): kept per app, answered by every worker of that app that runs in a process where they were
 * registered (as Celery's, which live in the modules the worker imports).
 */
import type { Celery } from '../app/celery.js';
import { ImproperlyConfigured } from '../errors.js';
import type { JsonObject, JsonValue } from '../types.js';
import type { Arguments } from './arguments.js';
import { BUILTIN_COMMANDS, type Command, type CommandType } from './commands.js';

/** What a user command receives: its keyword arguments and the worker answering. */
export interface UserCommandContext {
  readonly hostname: string;
  readonly app: Celery;
}

export type UserCommandHandler = (
  args: JsonObject,
  context: UserCommandContext,
) => JsonValue | undefined | Promise<JsonValue | undefined>;

export interface UserCommandOptions {
  /** `control` (replies `{"ok": ...}` by convention) or `inspect` (replies with data); default `control`. */
  readonly type?: CommandType;
  /** Positional arguments for the CLI, in order, with how to convert them. */
  readonly args?: readonly (readonly [string, 'str' | 'int' | 'float'])[];
  readonly variadic?: string;
  readonly signature?: string;
  readonly help?: string;
}

const registries = new WeakMap<Celery, Map<string, Command>>();

export function registerUserCommand(
  app: Celery,
  name: string,
  handler: UserCommandHandler,
  options: UserCommandOptions = {},
): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new ImproperlyConfigured(
      `Control command name ${JSON.stringify(name)} must be an identifier (letters, digits, _)`,
    );
  }
  if (BUILTIN_COMMANDS.has(name)) {
    throw new ImproperlyConfigured(`Control command ${name} is built in: choose another name for yours`);
  }
  let registry = registries.get(app);
  if (!registry) {
    registry = new Map<string, Command>();
    registries.set(app, registry);
  }
  registry.set(name, {
    name,
    type: options.type ?? 'control',
    args: options.args ?? [],
    signature: options.signature ?? '',
    visible: true,
    help: options.help ?? '',
    ...(options.variadic === undefined ? {} : { variadic: options.variadic }),
    handler: ({ target }, args: Arguments) =>
      handler(args.values, { hostname: target.hostname, app: target.app }),
  });
}

/** A command by name: the app's own first, then the built-ins. */
export function findCommand(app: Celery, name: string): Command | undefined {
  return registries.get(app)?.get(name) ?? BUILTIN_COMMANDS.get(name);
}

/** The app's user commands. */
export function userCommands(app: Celery): Command[] {
  return [...(registries.get(app)?.values() ?? [])];
}
