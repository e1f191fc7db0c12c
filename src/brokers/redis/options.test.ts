import { describe, expect, it } from 'vitest';
import { readBrokerOptions } from './options.js';

describe('redis broker transport options', () => {
  it("defaults to kombu's values", () => {
    const options = readBrokerOptions({}, () => undefined);
    expect(options).toMatchObject({
      visibilityTimeout: 3600,
      unackedKey: 'unacked',
      unackedIndexKey: 'unacked_index',
      unackedMutexKey: 'unacked_mutex',
      unackedMutexExpire: 300,
      sep: '\x06\x16',
      globalKeyprefix: '',
      queueOrderStrategy: 'round_robin',
      prioritySteps: [0, 3, 6, 9],
      leaseRenewInterval: 60,
      restoreInterval: 60,
    });
  });

  it("accepts kombu's snake_case names and camelCase, and derives the lease intervals", () => {
    const options = readBrokerOptions({ visibility_timeout: 8, globalKeyprefix: 'app:' }, () => undefined);
    expect(options).toMatchObject({
      visibilityTimeout: 8,
      globalKeyprefix: 'app:',
      leaseRenewInterval: 2,
      restoreInterval: 4,
    });
  });

  it('warns about unknown options with a suggestion', () => {
    const warnings: string[] = [];
    readBrokerOptions({ visibilty_timeout: 10, max_connections: 20 }, (w) => warnings.push(w));
    expect(warnings).toEqual([
      'Unknown broker transport option "visibilty_timeout" ignored (did you mean "visibility_timeout"?)',
    ]);
  });

  it.each([
    [{ visibility_timeout: 0 }, /visibility_timeout: 0: expected a positive number/],
    [
      { queue_order_strategy: 'random' },
      /queue_order_strategy: "random": expected round_robin, sorted or priority/,
    ],
    [{ priority_steps: [3, 6] }, /priority_steps/],
    [{ fanout_prefix: 3 }, /fanout_prefix/],
    [{ visibility_timeout: 10, lease_renew_interval: 8 }, /at most half of visibility_timeout \(10s\)/],
  ])('rejects %j naming the option', (options, message) => {
    expect(() => readBrokerOptions(options, () => undefined)).toThrow(message);
  });
});
