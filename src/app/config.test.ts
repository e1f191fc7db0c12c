import { describe, expect, it } from 'vitest';
import { Celery } from './celery.js';
import { compileConfig, normalizeOptions, SNAKE_CASE } from './config.js';

describe('configuration', () => {
  it('fails without a broker, naming the setting and giving examples', () => {
    expect(() => compileConfig({}, {})).toThrow(
      /No broker is configured: set broker \(broker_url.*sqlite:\/\/celeriac\.db.*redis:\/\/localhost:6379\/0.*amqp:\/\/guest@localhost\/\//,
    );
  });

  it('fills in Celery defaults', () => {
    const conf = compileConfig({ broker: 'memory://' }, {});
    expect(conf.taskDefaultQueue).toBe('celery');
    expect(conf.taskDefaultExchange).toBe('celery');
    expect(conf.resultExpires).toBe(86_400);
    expect(conf.workerPrefetchMultiplier).toBe(4);
    expect(conf.taskSerializer).toBe('json');
    expect(conf.backend).toBeNull();
  });

  it('lets the environment override broker and backend', () => {
    const conf = compileConfig(
      { broker: 'memory://', backend: 'memory://' },
      { CELERIAC_BROKER_URL: 'sqlite://x.db', CELERIAC_RESULT_BACKEND: 'sqlite://y.db' },
    );
    expect(conf.broker).toBe('sqlite://x.db');
    expect(conf.backend).toBe('sqlite://y.db');
  });

  it("maps Celery's snake_case names in one table", () => {
    expect(SNAKE_CASE.broker_url).toBe('broker');
    expect(SNAKE_CASE.result_backend).toBe('backend');
    expect(SNAKE_CASE.task_acks_late).toBe('taskAcksLate');
    expect(SNAKE_CASE.worker_prefetch_multiplier).toBe('workerPrefetchMultiplier');
    const app = new Celery('t').configFromObject({
      broker_url: 'memory://',
      task_acks_late: true,
      result_expires: 60,
    });
    expect(app.conf.taskAcksLate).toBe(true);
    expect(app.conf.resultExpires).toBe(60);
  });

  it('warns about unknown settings with a suggestion', () => {
    const { warnings } = normalizeOptions({ task_acks_lat: true, brokr_url: 'x' });
    expect(warnings[0]).toMatch(
      /Unknown setting "task_acks_lat" ignored \(did you mean "task_acks_late"\?\)/,
    );
    expect(warnings[1]).toMatch(/did you mean "broker_url"/);
  });

  it.each([
    [{ workerPrefetchMultiplier: -1 }, /workerPrefetchMultiplier: -1: expected a non-negative integer/],
    [{ workerConcurrency: 0 }, /workerConcurrency: 0/],
    [{ resultExpires: -5 }, /resultExpires: -5/],
    [{ taskSerializer: 'pickle' }, /taskSerializer: "pickle"/],
    [{ acceptContent: ['json', 'pickle'] }, /cannot decode.*remove it/],
    [{ taskSerializer: 'msgpack' }, /taskSerializer "msgpack" is not in acceptContent/],
    [{ taskDefaultRateLimit: 'fast' }, /taskDefaultRateLimit: "fast"/],
    [{ taskCompression: 'lzma' }, /taskCompression: "lzma"/],
    [{ broker: 'reddis//x' }, /broker "reddis\/\/x" is not a URL/],
  ])('rejects %j with a message naming the setting', (options, message) => {
    expect(() => compileConfig({ broker: 'memory://', ...options }, {})).toThrow(message);
  });

  it('suggests the right broker scheme for a typo', async () => {
    const app = new Celery('t', { broker: 'reddis://localhost' });
    await expect(app.getBroker()).rejects.toThrow(/Unknown broker URL scheme "reddis" in broker/);
  });

  it('refuses configFromObject after the configuration was used', () => {
    const app = new Celery('t', { broker: 'memory://' });
    void app.conf;
    expect(() => app.configFromObject({ task_acks_late: true })).toThrow(
      /after the configuration was first used/,
    );
  });
});
