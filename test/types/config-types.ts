/**
 * Type-level tests of the options and configuration inferred from the settings table (src/app/settings.ts),
 * checked by `npm run typecheck`: each `@ts-expect-error` proves a wrong option does not compile.
 */
import type { RetryPolicy } from '../../src/lifecycle/backoff.js';
import { Celery, type CeleryOptions, type Config, type PoolName } from '../../src/index.js';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_proof?: T): void {}

export function checks(conf: Config): void {
  new Celery('ok', { broker: 'memory://', taskDefaultDeliveryMode: 'transient', taskQueues: null });
  // @ts-expect-error an unknown option (Celery's snake_case names are for configFromObject)
  new Celery('typo', { taskSerialiser: 'json' });
  // @ts-expect-error a boolean setting
  new Celery('bad', { taskAcksLate: 'yes' });
  // @ts-expect-error one of the pools
  new Celery('bad', { workerPool: 'gevent' });
  // @ts-expect-error a delivery mode
  new Celery('bad', { taskDefaultDeliveryMode: 3 });

  // Options are what users write; the configuration is what they compile to.
  assertType<
    Equals<CeleryOptions['taskDefaultDeliveryMode'], 1 | 2 | 'transient' | 'persistent' | undefined>
  >();
  assertType<Equals<Config['taskDefaultDeliveryMode'], 1 | 2>>();
  assertType<Equals<Config['broker'], string>>();
  assertType<Equals<Config['backend'], string | null>>();
  assertType<Equals<Config['workerPool'], PoolName>>();
  assertType<Equals<Config['taskPublishRetryPolicy'], RetryPolicy>>();
  assertType<Equals<Config['taskDefaultExchangeType'], 'direct' | 'topic' | 'fanout'>>();
  // @ts-expect-error the configuration is read-only
  conf.taskAcksLate = true;
}
