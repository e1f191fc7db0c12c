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

  it('refuses unknown settings with a suggestion', () => {
    expect(() => normalizeOptions({ task_acks_lat: true })).toThrow(
      /Unknown setting "task_acks_lat" \(did you mean "task_acks_late"\?\)/,
    );
    expect(() => normalizeOptions({ brokr_url: 'x' })).toThrow(/did you mean "broker_url"/);
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

describe('settings checked at new Celery() and configFromObject()', () => {
  it('refuses an unknown setting at construction, in either spelling, naming the closest one', () => {
    expect(() => new Celery('t', { broker: 'memory://', task_serialiser: 'json' } as never)).toThrow(
      'Unknown setting "task_serialiser" (did you mean "task_serializer"?)',
    );
    expect(() => new Celery('t', { taskAcksLat: true } as never)).toThrow(
      'Unknown setting "taskAcksLat" (did you mean "taskAcksLate"?)',
    );
    expect(() => new Celery('t', { frobnicate: 1 } as never)).toThrow(
      'Unknown setting "frobnicate": docs/configuration.md lists every setting',
    );
  });

  it('says so when a Celery setting is not implemented, rather than suggesting another', () => {
    expect(() => new Celery('t').configFromObject({ result_serializer: 'json' })).toThrow(
      'Setting "result_serializer" is a Celery setting that Celeriac does not implement',
    );
  });

  it('refuses a bad value at construction, under the name it was given', () => {
    expect(() => new Celery('t', { workerConcurrency: 0 })).toThrow(
      'Invalid value for workerConcurrency: 0: expected null or a positive integer',
    );
    expect(() => new Celery('t').configFromObject({ task_acks_late: 'yes' })).toThrow(
      'Invalid value for task_acks_late: "yes": expected true or false',
    );
    expect(() => new Celery('t', { taskPublishRetryPolicy: { max_retries: -1 } as never })).toThrow(
      'Invalid value for taskPublishRetryPolicy.maxRetries: -1: expected a non-negative number',
    );
    expect(() => new Celery('t', { taskPublishRetryPolicy: { max_retrys: 1 } as never })).toThrow(
      'Unknown key "max_retrys" in taskPublishRetryPolicy (did you mean "maxRetries"?)',
    );
  });

  it('leaves the configuration as it was when configFromObject fails', () => {
    const app = new Celery('t', { broker: 'memory://', taskAcksLate: true });
    expect(() => app.configFromObject({ task_acks_late: false, worker_pool: 'gevent' })).toThrow(
      /worker_pool: "gevent": expected async, solo, threads or prefork/,
    );
    expect(app.conf.taskAcksLate).toBe(true);
  });

  it('refuses a setting given twice in one object', () => {
    expect(() => normalizeOptions({ taskAcksLate: true, task_acks_late: false })).toThrow(
      'Setting taskAcksLate is given twice, as taskAcksLate and as task_acks_late: keep one',
    );
  });

  it('accepts snake_case in the constructor and camelCase in configFromObject', () => {
    const app = new Celery('t', { broker_url: 'memory://' } as never).configFromObject({
      taskAcksLate: true,
    });
    expect(app.conf.broker).toBe('memory://');
    expect(app.conf.taskAcksLate).toBe(true);
  });

  it('lets a later configFromObject fix what an earlier one left inconsistent', () => {
    const app = new Celery('t', { broker: 'memory://', taskSerializer: 'msgpack' });
    app.configFromObject({ accept_content: ['json', 'msgpack'] });
    expect(app.conf.taskSerializer).toBe('msgpack');
  });

  it('checks the environment overrides like the settings they override', () => {
    expect(() => compileConfig({}, { CELERIAC_BROKER_URL: 'localhost' })).toThrow(
      /CELERIAC_BROKER_URL "localhost" is not a URL/,
    );
    expect(compileConfig({}, { CELERIAC_BROKER_URL: 'memory://' }).broker).toBe('memory://');
  });

  it('reads timezone and enableUtc as Celery: the zone, else UTC, else the system zone (issue 14)', () => {
    expect(new Celery('t', { broker: 'memory://', timezone: 'Europe/Paris' }).timezone).toBe('Europe/Paris');
    expect(new Celery('t', { broker: 'memory://' }).timezone).toBe('UTC');
    expect(new Celery('t', { broker: 'memory://', enableUtc: false }).timezone).toBe(
      Intl.DateTimeFormat().resolvedOptions().timeZone,
    );
    expect(() => new Celery('t').configFromObject({ timezone: 'Europe/Pari' })).toThrow(
      'Invalid value for timezone: "Europe/Pari": expected null or an IANA time zone name',
    );
  });

  it('accepts a pending setting at its default', () => {
    const app = new Celery('t', { broker: 'memory://', timezone: 'UTC', enableUtc: true });
    expect(app.conf.timezone).toBe('UTC');
  });

  it('derives the default exchange and routing key from the default queue', () => {
    const conf = compileConfig({ broker: 'memory://', taskDefaultQueue: 'jobs' }, {});
    expect([conf.taskDefaultExchange, conf.taskDefaultRoutingKey]).toEqual(['jobs', 'jobs']);
  });

  it('freezes the configuration', () => {
    const conf = compileConfig({ broker: 'memory://' }, {});
    expect(Object.isFrozen(conf)).toBe(true);
  });
});
