/** URL scheme -> broker driver. Drivers load lazily, so an app on SQLite never loads ioredis or amqplib. */
import { didYouMean, ImproperlyConfigured } from '../errors.js';
import { urlScheme } from '../lifecycle/url.js';
import type { Broker, BrokerContext } from './broker.js';

export type BrokerFactory = (url: string, context: BrokerContext) => Broker;

const drivers = new Map<string, () => Promise<BrokerFactory>>([
  ['memory', async () => (await import('./memory/memory-broker.js')).createMemoryBroker],
  ['sqlite', async () => (await import('./sqlite/sqlite-broker.js')).createSqliteBroker],
  ['redis', async () => (await import('./redis/redis-broker.js')).createRedisBroker],
  ['rediss', async () => (await import('./redis/redis-broker.js')).createRedisBroker],
  ['sentinel', async () => (await import('./redis/redis-broker.js')).createRedisBroker],
  ['amqp', loadAmqp],
  ['amqps', loadAmqp],
  ['pyamqp', loadAmqp],
]);

async function loadAmqp(): Promise<BrokerFactory> {
  return (await import('./amqp/amqp-broker.js')).createAmqpBroker;
}

/** Adds or replaces the driver for a URL scheme (for third-party drivers). */
export function registerBrokerDriver(scheme: string, load: () => Promise<BrokerFactory>): void {
  drivers.set(scheme, load);
}

export async function createBroker(url: string, context: BrokerContext): Promise<Broker> {
  const scheme = urlScheme(url, 'broker');
  const load = drivers.get(scheme);
  if (!load) {
    const known = [...drivers.keys()];
    throw new ImproperlyConfigured(
      `Unknown broker URL scheme "${scheme}" in broker${didYouMean(scheme, known)}: known schemes are ${known.join(', ')}`,
    );
  }
  const factory = await load();
  return factory(url, context);
}

export function knownBrokerSchemes(): string[] {
  return [...drivers.keys()];
}
