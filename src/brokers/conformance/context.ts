/**
 * What a broker conformance run is given (`BrokerSuiteOptions`) and what its test groups share (`SuiteContext`).
 * A driver states its capabilities up front, so that the tests of what it lacks are reported skipped (vitest's
 * `it.skipIf`), and gives the hooks that the tests of what it has need (a restart, a way to lose a consumer, ...):
 * a capability declared without its hook fails, it never passes untested.
 */
import { afterEach } from 'vitest';
import { uuid } from '../../protocol/ids.js';
import type { Broker, BrokerCapabilities, QueueSpec } from '../broker.js';

/** A server of the driver's own that can be restarted (for `durable`). */
export interface Restartable {
  /** A new, unconnected broker on that server. */
  create(): Promise<Broker> | Broker;
  /** Restarts the server (or, for an embedded broker, lets the next broker reopen its file). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface BrokerSuiteOptions {
  /** Creates a new, unconnected broker. Brokers created by one suite run share one server or namespace. */
  create(): Promise<Broker> | Broker;
  /** What the driver declares; the suite checks that its brokers say exactly this. */
  capabilities: BrokerCapabilities;
  /** Its brokers have `deferral` (a far-future ETA is handed back to the broker). */
  deferral?: boolean;
  /** Its brokers have `subscriptions`; true unless said otherwise. */
  subscriptions?: boolean;
  /** Time the driver needs to notice a delayed message is due, on top of its delay (ms). */
  delaySlackMs?: number;
  /** For brokers that do not consume (`consume: false`): a broker of the same namespace that reads for them. */
  reader?(): Promise<Broker> | Broker;
  /**
   * For `losesDeliveries` and `redeliversOnConsumerLoss`: makes `broker` lose the deliveries it holds as a crash
   * would look to others (its connection killed, its leases taken over), and lets it notice (onLost) where it can.
   */
  loseDeliveries?(broker: Broker): Promise<void>;
  /**
   * For drivers with connections: drops `broker`'s connections as a network failure or a broker restart would
   * (subscriptions must come back by themselves). Drivers without connections (memory, SQLite) give none.
   */
  dropConnections?(broker: Broker): Promise<void>;
  /** For `durable`: a server of its own that the suite may restart. */
  restartable?(): Promise<Restartable>;
  /** For `shared`: how another process reaches the same namespace (`createBroker(url, { transportOptions })`). */
  connection?: { readonly url: string; readonly transportOptions?: Readonly<Record<string, unknown>> };
  /** For `deadLetter`: the dead letters kept for a queue (reason and the message's `label` header). */
  deadLetters?(broker: Broker, queue: string): Promise<readonly { reason: string; label: string }[]>;
}

export interface SuiteContext {
  readonly driver: string;
  readonly options: BrokerSuiteOptions;
  readonly caps: BrokerCapabilities;
  /** A new connected broker, closed after the test. */
  readonly connected: () => Promise<Broker>;
  /** The broker that consumes what `subject` published: itself, or the driver's reader. */
  readonly readerFor: (subject: Broker) => Promise<Broker>;
  /** Closes `broker` after the test. */
  readonly track: (broker: Broker) => Broker;
  /** A queue name of this run. */
  readonly queue: (name: string) => QueueSpec;
  /** An exchange (or other) name of this run. */
  readonly unique: (name: string) => string;
  /** The hook a capability needs, or a failure saying that the driver declared it without the hook. */
  readonly need: <K extends keyof BrokerSuiteOptions>(
    key: K,
    capability: string,
  ) => NonNullable<BrokerSuiteOptions[K]>;
}

export function suiteContext(driver: string, options: BrokerSuiteOptions): SuiteContext {
  const open: Broker[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });
  const track = (broker: Broker): Broker => {
    open.push(broker);
    return broker;
  };
  const connect = async (create: () => Promise<Broker> | Broker): Promise<Broker> => {
    const broker = track(await create());
    await broker.connect();
    return broker;
  };
  const context: SuiteContext = {
    driver,
    options,
    caps: options.capabilities,
    connected: () => connect(() => options.create()),
    readerFor: async (subject) => {
      if (subject.capabilities.consume) return subject;
      return connect(context.need('reader', 'consume: false'));
    },
    track,
    queue: (name) => ({ name: context.unique(name) }),
    unique: (name) => `conf-${driver}-${name}-${uuid().slice(0, 8)}`,
    need: (key, capability) => {
      const hook = options[key];
      if (hook === undefined) {
        throw new Error(
          `broker conformance: ${driver} declares ${capability} but gives no ${String(key)} to test it with`,
        );
      }
      return hook;
    },
  };
  return context;
}
