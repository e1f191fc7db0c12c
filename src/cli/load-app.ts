/**
 * `-A MODULE[:NAME]`: loads the user's module (TypeScript through tsx, no build step) and finds its app, exported
 * as `app`, as the default export, or under NAME. `-b` and `--result-backend` become the environment overrides
 * CELERIAC_BROKER_URL and CELERIAC_RESULT_BACKEND before the module loads, so they win over the module's settings.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Celery } from '../app/celery.js';
import { ImproperlyConfigured } from '../errors.js';

export interface GlobalOptions {
  app?: string;
  broker?: string;
  resultBackend?: string;
}

let tsxRegistered = false;

async function importModule(specifier: string): Promise<Record<string, unknown>> {
  if (!tsxRegistered) {
    // Both hooks: a .ts file outside a "type": "module" package is compiled as CommonJS.
    const { register: registerCjs } = await import('tsx/cjs/api');
    registerCjs();
    const { register } = await import('tsx/esm/api');
    register();
    tsxRegistered = true;
  }
  const path = isAbsolute(specifier) ? specifier : resolve(specifier);
  let url: string;
  if (existsSync(path)) {
    url = pathToFileURL(path).href;
  } else {
    try {
      url = pathToFileURL(createRequire(resolve('package.json')).resolve(specifier)).href;
    } catch {
      throw new ImproperlyConfigured(`-A ${specifier}: no such file or package (looked for ${path})`);
    }
  }
  return (await import(url)) as Record<string, unknown>;
}

function looksLikeApp(value: unknown): value is Celery {
  return (
    value instanceof Celery ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as Celery).sendTask === 'function' &&
      typeof (value as Celery).task === 'function' &&
      'conf' in value)
  );
}

export async function loadApp(options: GlobalOptions): Promise<Celery> {
  if (options.broker) process.env.CELERIAC_BROKER_URL = options.broker;
  if (options.resultBackend) process.env.CELERIAC_RESULT_BACKEND = options.resultBackend;
  if (!options.app) return new Celery('celeriac');
  const colon = options.app.lastIndexOf(':');
  const hasName = colon > 1 && !/^[a-zA-Z]:[\\/]/.test(options.app.slice(colon - 1));
  const specifier = hasName ? options.app.slice(0, colon) : options.app;
  const name = hasName ? options.app.slice(colon + 1) : undefined;
  const module = await importModule(specifier);
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
      `-A ${options.app}: the module does not export a Celery app ${name ? `named "${name}"` : 'as "app" or as its default export'}`,
    );
  }
  return candidate;
}
