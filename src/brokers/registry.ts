/**
 * URL scheme -> broker driver. Every app has its own table (`app.registerBroker()`) over the built-in drivers,
 * which load lazily, so an app on SQLite never loads ioredis or amqplib.
 */
import { didYouMean, ImproperlyConfigured } from '../errors.js';
import { DriverTable, type DriverLoader } from '../lifecycle/driver-table.js';
import { urlScheme } from '../lifecycle/url.js';
import type { Broker, BrokerContext } from './broker.js';

export type BrokerFactory = (url: string, context: BrokerContext) => Broker;

async function loadAmqp(): Promise<BrokerFactory> {
  return (await import('./amqp/amqp-broker.js')).createAmqpBroker;
}

/** The drivers every app starts with. */
const defaults = new Map<string, DriverLoader<BrokerFactory>>([
  ['memory', async () => (await import('./memory/memory-broker.js')).createMemoryBroker],
  ['sqlite', async () => (await import('./sqlite/sqlite-broker.js')).createSqliteBroker],
  ['redis', async () => (await import('./redis/redis-broker.js')).createRedisBroker],
  ['rediss', async () => (await import('./redis/redis-broker.js')).createRedisBroker],
  ['sentinel', async () => (await import('./redis/redis-broker.js')).createRedisBroker],
  ['amqp', loadAmqp],
  ['amqps', loadAmqp],
  ['pyamqp', loadAmqp],
]);

/** A new app's broker drivers: the built-in ones, and what the app registers itself. */
export function brokerDrivers(): DriverTable<BrokerFactory> {
  return new DriverTable('broker', defaults);
}

/**
 * Adds or replaces the driver for a URL scheme in every app of this process.
 *
 * @deprecated Register on the app that uses it instead: `app.registerBroker(scheme, factory)`.
 */
export function registerBrokerDriver(scheme: string, load: () => Promise<BrokerFactory>): void {
  defaults.set(scheme, load);
}

/** Creates the broker for a URL with the app's drivers (the built-in ones when none are given). */
export async function createBroker(
  url: string,
  context: BrokerContext,
  drivers: DriverTable<BrokerFactory> = brokerDrivers(),
): Promise<Broker> {
  const scheme = urlScheme(url, 'broker');
  const load = drivers.find(scheme);
  if (!load) {
    const known = drivers.schemes();
    throw new ImproperlyConfigured(
      `Unknown broker URL scheme "${scheme}" in broker${didYouMean(scheme, known)}: known schemes are ${known.join(', ')}`,
    );
  }
  const factory = await load();
  return factory(url, context);
}

/** The built-in broker URL schemes (and those registered process-wide). */
export function knownBrokerSchemes(): string[] {
  return [...defaults.keys()];
}
