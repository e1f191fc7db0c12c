import { describe, expect, it } from 'vitest';
import { deferred, type Deferred } from './async.js';
import { ServiceList, type Service } from './service.js';

/** A service that records what happens to it; its drain waits for `finish` when given one. */
function recorder(
  name: string,
  log: string[],
  options: { failStart?: boolean; finish?: Deferred<void> } = {},
): Service {
  return {
    name,
    start: async () => {
      log.push(`start ${name}`);
      if (options.failStart) throw new Error(`${name} cannot start`);
    },
    drain: async () => {
      log.push(`drain ${name}`);
      await options.finish?.promise;
      log.push(`drained ${name}`);
    },
    stop: async () => {
      log.push(`stop ${name}`);
    },
  };
}

describe('ServiceList', () => {
  it('starts in order; a warm stop drains in reverse order, then stops in reverse order', async () => {
    const log: string[] = [];
    const list = new ServiceList(['a', 'b', 'c'].map((n) => recorder(n, log)));
    await list.start();
    await list.stop();
    expect(log).toEqual([
      'start a',
      'start b',
      'start c',
      'drain c',
      'drained c',
      'drain b',
      'drained b',
      'drain a',
      'drained a',
      'stop c',
      'stop b',
      'stop a',
    ]);
  });

  it('a cold stop stops at once in reverse order, without draining', async () => {
    const log: string[] = [];
    const list = new ServiceList(['a', 'b'].map((n) => recorder(n, log)));
    await list.start();
    await list.stop({ cold: true });
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('turns a warm stop cold: the drain under way is abandoned, the rest skipped, every service stopped', async () => {
    const log: string[] = [];
    const finish = deferred();
    const list = new ServiceList([recorder('a', log), recorder('b', log, { finish }), recorder('c', log)]);
    await list.start();
    const stopping = list.stop();
    await expect.poll(() => log.includes('drain b')).toBe(true);
    const again = list.stop({ cold: true });
    expect(again).toBe(stopping);
    await stopping;
    expect(log.slice(3)).toEqual(['drain c', 'drained c', 'drain b', 'stop c', 'stop b', 'stop a']);
    finish.resolve();
  });

  it('is idempotent: a second stop returns the same promise and stops nothing twice', async () => {
    const log: string[] = [];
    const list = new ServiceList([recorder('a', log)]);
    await list.start();
    const first = list.stop();
    expect(list.stop()).toBe(first);
    await first;
    await list.stop({ cold: true });
    expect(log.filter((line) => line === 'stop a')).toHaveLength(1);
  });

  it('a service that fails to start: the ones before it (and it) are stopped in reverse, the error re-thrown', async () => {
    const log: string[] = [];
    const list = new ServiceList([
      recorder('a', log),
      recorder('b', log, { failStart: true }),
      recorder('c', log),
    ]);
    await expect(list.start()).rejects.toThrow('b cannot start');
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
    await list.stop();
    expect(log).toHaveLength(4);
  });

  it('a stop during start waits for the service starting, then stops what started and starts nothing more', async () => {
    const log: string[] = [];
    const gate = deferred();
    const slow: Service = {
      ...recorder('b', log),
      start: () => gate.promise.then(() => void log.push('start b')),
    };
    const list = new ServiceList([recorder('a', log), slow, recorder('c', log)]);
    const starting = list.start();
    await expect.poll(() => log.includes('start a')).toBe(true);
    const stopping = list.stop({ cold: true });
    gate.resolve();
    await starting;
    await stopping;
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('stops every service when one fails to drain or stop, and re-throws the first error', async () => {
    const log: string[] = [];
    const failing: Service = {
      ...recorder('b', log),
      drain: () => Promise.reject(new Error('drain failed')),
      stop: () => Promise.reject(new Error('stop failed')),
    };
    const list = new ServiceList([recorder('a', log), failing, recorder('c', log)]);
    await list.start();
    await expect(list.stop()).rejects.toThrow('drain failed');
    expect(log.filter((line) => line.startsWith('stop'))).toEqual(['stop c', 'stop a']);
  });
});
