/** URL scheme -> result backend driver, loaded lazily. `disabled` (or no backend) stores nothing. */
import { didYouMean, ImproperlyConfigured } from '../errors.js';
import { urlScheme } from '../lifecycle/url.js';
import type { BackendContext, ResultBackend } from './backend.js';
import { DisabledBackend } from './disabled.js';

export type BackendFactory = (url: string, context: BackendContext) => ResultBackend;

const drivers = new Map<string, () => Promise<BackendFactory>>([
  ['memory', async () => (await import('./memory/memory-backend.js')).createMemoryBackend],
  ['sqlite', async () => (await import('./sqlite/sqlite-backend.js')).createSqliteBackend],
  ['redis', async () => (await import('./redis/redis-backend.js')).createRedisBackend],
  ['rediss', async () => (await import('./redis/redis-backend.js')).createRedisBackend],
  ['sentinel', async () => (await import('./redis/redis-backend.js')).createRedisBackend],
  ['rpc', async () => (await import('./rpc/rpc-backend.js')).createRpcBackend],
]);

export function registerBackendDriver(scheme: string, load: () => Promise<BackendFactory>): void {
  drivers.set(scheme, load);
}

export async function createBackend(
  url: string | null | undefined,
  context: BackendContext,
): Promise<ResultBackend> {
  if (!url || url === 'disabled' || url === 'disabled://') return new DisabledBackend();
  const scheme = urlScheme(url, 'backend');
  const load = drivers.get(scheme);
  if (!load) {
    const known = [...drivers.keys()];
    throw new ImproperlyConfigured(
      `Unknown result backend URL scheme "${scheme}" in backend${didYouMean(scheme, known)}: known schemes are ${known.join(', ')}, disabled`,
    );
  }
  return (await load())(url, context);
}

export function knownBackendSchemes(): string[] {
  return [...drivers.keys()];
}
