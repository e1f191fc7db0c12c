/**
 * Loading the module that exports the app, from a `path[:name]` specifier (`-A ./tasks.ts`, `-A ./tasks.ts:app`,
 * `-A my-package`). TypeScript modules load through tsx, without a build step. Used by the CLI for `-A` and by
 * every pool child (thread or process), which loads the app itself.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Celery } from '../app/celery.js';
import { ImproperlyConfigured } from '../errors.js';

/** Set once tsx's hooks are registered in this thread (by us, or by a pool thread's bootstrap). */
const TSX_REGISTERED = Symbol.for('celeriac.tsxRegistered');

async function registerTsx(): Promise<void> {
  const flags = globalThis as Record<symbol, unknown>;
  if (flags[TSX_REGISTERED] === true) return;
  // Both hooks: a .ts file outside a "type": "module" package is compiled as CommonJS.
  const { register: registerCjs } = await import('tsx/cjs/api');
  registerCjs();
  const { register } = await import('tsx/esm/api');
  register();
  flags[TSX_REGISTERED] = true;
}

export interface AppSpec {
  /** A file path or a package name. */
  readonly specifier: string;
  /** The export holding the app, when given after a colon. */
  readonly name: string | undefined;
}

/** Splits `path[:name]`, leaving Windows drive letters (`C:\\...`) alone. */
export function parseAppSpec(spec: string): AppSpec {
  const colon = spec.lastIndexOf(':');
  const hasName = colon > 1 && !/^[a-zA-Z]:[\\/]/.test(spec.slice(colon - 1));
  return hasName
    ? { specifier: spec.slice(0, colon), name: spec.slice(colon + 1) }
    : { specifier: spec, name: undefined };
}

/** The specifier made absolute against `cwd` when it names a file, so another process or thread finds it. */
export function absoluteAppSpec(spec: string, cwd: string = process.cwd()): string {
  const { specifier, name } = parseAppSpec(spec);
  const path = isAbsolute(specifier) ? specifier : resolve(cwd, specifier);
  const absolute = existsSync(path) ? path : specifier;
  return name === undefined ? absolute : `${absolute}:${name}`;
}

async function importModule(label: string, specifier: string): Promise<Record<string, unknown>> {
  await registerTsx();
  const path = isAbsolute(specifier) ? specifier : resolve(specifier);
  let url: string;
  if (existsSync(path)) {
    url = pathToFileURL(path).href;
  } else {
    try {
      url = pathToFileURL(createRequire(resolve('package.json')).resolve(specifier)).href;
    } catch {
      throw new ImproperlyConfigured(`${label} ${specifier}: no such file or package (looked for ${path})`);
    }
  }
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new ImproperlyConfigured(importFailure(label, specifier, error), { cause: error });
  }
}

/**
 * An import that threw, said with where it threw: the first stack frame outside Node and node_modules (the
 * user's line), or the file and line a syntax error names. The full stack trace is one variable away.
 */
export function importFailure(label: string, specifier: string, error: unknown): string {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const frame = stack
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line.startsWith('at ') && !/node:|node_modules|\(native\)/.test(line));
  const where = frame ? `\n    ${frame}` : '';
  return (
    `${label} ${specifier}: loading the module failed: ${message}${where}\n` +
    '(set CELERIAC_DEBUG=1 for the full stack trace)'
  );
}

export function looksLikeApp(value: unknown): value is Celery {
  return (
    value instanceof Celery ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as Celery).sendTask === 'function' &&
      typeof (value as Celery).task === 'function' &&
      'conf' in value)
  );
}

/**
 * Imports the module and returns its app: the export named in the spec, else `app`, the default export or
 * `celery`. `label` names the source in errors (`-A`, `appModule`).
 */
export async function loadAppModule(spec: string, label = '-A'): Promise<Celery> {
  const { specifier, name } = parseAppSpec(spec);
  const module = await importModule(label, specifier);
  // A CommonJS module (a .ts file outside a "type": "module" package) arrives as { default: module.exports }.
  const exports =
    module.app === undefined &&
    typeof module.default === 'object' &&
    module.default !== null &&
    !looksLikeApp(module.default)
      ? (module.default as Record<string, unknown>)
      : module;
  const candidate = name ? exports[name] : (exports.app ?? exports.default ?? exports.celery);
  if (!looksLikeApp(candidate)) {
    throw new ImproperlyConfigured(
      `${label} ${spec}: the module does not export a Celery app ${name ? `named "${name}"` : 'as "app" or as its default export'}`,
    );
  }
  return candidate;
}

/** The environment variable that carries worker `-I/--include` modules to pool children (comma-separated). */
export const INCLUDE_ENV = 'CELERIAC_INCLUDE';

/**
 * Imports each module after the app (Celery's worker `-I/--include`), so the tasks they define on the app are
 * registered. Pool children import the same list, from CELERIAC_INCLUDE. `label` names the source in errors.
 */
export async function importModules(specs: readonly string[], label = '-I'): Promise<void> {
  for (const spec of specs) await importModule(label, spec);
}

/** The modules of CELERIAC_INCLUDE (absolute paths once the worker has set it). */
export function includedModules(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env[INCLUDE_ENV] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
