/**
 * URL scheme -> result backend driver. Every app has its own table (`app.registerBackend()`) over the built-in
 * drivers, loaded lazily. `disabled` (or no backend) stores nothing; `db+...` URLs (SQLAlchemy's, as Celery takes
 * them) go to the database backend.
 */
import { didYouMean, ImproperlyConfigured } from '../errors.js';
import { DriverTable, type DriverLoader } from '../lifecycle/driver-table.js';
import { urlScheme } from '../lifecycle/url.js';
import type { BackendContext, ResultBackend } from './backend.js';
import { DisabledBackend } from './disabled.js';

export type BackendFactory = (url: string, context: BackendContext) => ResultBackend;

/** The drivers every app starts with. */
const defaults = new Map<string, DriverLoader<BackendFactory>>([
  ['memory', async () => (await import('./memory/memory-backend.js')).createMemoryBackend],
  ['sqlite', async () => (await import('./sqlite/sqlite-backend.js')).createSqliteBackend],
  ['redis', async () => (await import('./redis/redis-backend.js')).createRedisBackend],
  ['rediss', async () => (await import('./redis/redis-backend.js')).createRedisBackend],
  ['sentinel', async () => (await import('./redis/redis-backend.js')).createRedisBackend],
  ['rpc', async () => (await import('./rpc/rpc-backend.js')).createRpcBackend],
  // Every `db+<dialect>[+<driver>]://` URL (database/url.ts checks the dialect).
  ['db', async () => (await import('./database/database-backend.js')).createDatabaseBackend],
]);

/** A new app's result backend drivers: the built-in ones, and what the app registers itself. */
export function backendDrivers(): DriverTable<BackendFactory> {
  return new DriverTable('result backend', defaults);
}

/**
 * Adds or replaces the driver for a URL scheme in every app of this process.
 *
 * @deprecated Register on the app that uses it instead: `app.registerBackend(scheme, factory)`.
 */
export function registerBackendDriver(scheme: string, load: () => Promise<BackendFactory>): void {
  defaults.set(scheme, load);
}

/** Creates the result backend for a URL with the app's drivers (the built-in ones when none are given). */
export async function createBackend(
  url: string | null | undefined,
  context: BackendContext,
  drivers: DriverTable<BackendFactory> = backendDrivers(),
): Promise<ResultBackend> {
  if (!url || url === 'disabled' || url === 'disabled://') return new DisabledBackend();
  const scheme = urlScheme(url, 'backend');
  // `db+postgresql+psycopg2` and the like: an app's own driver for the exact scheme first, else the database backend.
  const load = drivers.find(scheme) ?? (scheme.startsWith('db+') ? drivers.find('db') : undefined);
  if (!load) {
    const known = drivers
      .schemes()
      .flatMap((k) => (k === 'db' ? ['db+postgresql', 'db+mysql', 'db+sqlite'] : [k]));
    throw new ImproperlyConfigured(
      `Unknown result backend URL scheme "${scheme}" in backend${didYouMean(scheme, known)}: known schemes are ${known.join(', ')}, disabled`,
    );
  }
  return (await load())(url, context);
}

/** The built-in result backend URL schemes (and those registered process-wide). */
export function knownBackendSchemes(): string[] {
  return [...defaults.keys()];
}
