/**
 * Which shared store (and so which leader lease) an app's beat uses: the broker's Redis or SQLite, else the result
 * backend's Redis or SQLite (an AMQP broker has nowhere to record ticks atomically with a lease: a single-active-
 * consumer queue would elect a leader but could not fence its writes, so under AMQP the result backend's store is
 * used). None of those: no shared store, one beat only, as in Celery.
 */
import type { Celery } from '../../app/celery.js';
import { readBrokerOptions } from '../../brokers/redis/options.js';
import { systemClock } from '../../lifecycle/clock.js';
import type { Logger } from '../../lifecycle/logger.js';
import { RedisStore } from './redis-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { SharedStore } from './store.js';

const REDIS_SCHEMES = new Set(['redis', 'rediss', 'sentinel']);

function storeAt(
  app: Celery,
  url: string,
  setting: 'broker' | 'backend',
  transportOptions: Readonly<Record<string, unknown>>,
  logger: Logger,
): SharedStore | null {
  const scheme = url.slice(0, url.indexOf(':'));
  const leaseMs = app.conf.beatLeaseTimeout * 1000;
  if (REDIS_SCHEMES.has(scheme)) {
    // The broker has already reported unknown transport options; the backend's are not broker options.
    const options = readBrokerOptions(setting === 'broker' ? transportOptions : {}, () => undefined);
    return new RedisStore({
      url,
      setting,
      connection: options.connection,
      keyPrefix: options.globalKeyprefix,
      schedule: app.main,
      leaseMs,
      logger,
    });
  }
  if (scheme === 'sqlite') return new SqliteStore(url, setting, app.main, leaseMs, systemClock);
  return null;
}

/** The app's shared store, or null when neither its broker nor its result backend offers one. */
export function sharedStoreFor(app: Celery, logger: Logger): SharedStore | null {
  const conf = app.conf;
  return (
    storeAt(app, conf.broker, 'broker', conf.brokerTransportOptions, logger) ??
    (conf.backend && conf.backend !== 'disabled'
      ? storeAt(app, conf.backend, 'backend', conf.resultBackendTransportOptions, logger)
      : null)
  );
}
