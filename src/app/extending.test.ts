/**
 * Registries per app: a broker driver, a result backend driver and a serializer registered on one app work there,
 * end to end through a worker, and are unknown to every other app (nothing process-wide changes).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBackend } from '../backends/memory/memory-backend.js';
import { knownBackendSchemes } from '../backends/registry.js';
import { createMemoryBroker } from '../brokers/memory/memory-broker.js';
import { knownBrokerSchemes } from '../brokers/registry.js';
import { EncodeError, ImproperlyConfigured } from '../errors.js';
import type { WireMessage } from '../protocol/message.js';
import { uuid } from '../protocol/ids.js';
import type { Serializer } from '../protocol/serializers/index.js';
import { createTestApp, startTestWorker, type TestWorker } from '../testing/index.js';
import type { Celery } from './celery.js';

/** Events and remote control (pidbox requests and replies) share the broker with tasks. */
const MONITORING_EXCHANGES = new Set(['celeryev', 'celery.pidbox', 'reply.celery.pidbox']);

/** JSON behind a marker, under its own content type: a serializer no other app knows. */
const tagged: Serializer = {
  name: 'tagged',
  contentType: 'application/x-tagged-json',
  contentEncoding: 'utf-8',
  encode: (value) => Buffer.from(`TAG:${JSON.stringify(value)}`, 'utf8'),
  decode: (data) => {
    const text = data.toString('utf8');
    if (!text.startsWith('TAG:')) throw new Error('not tagged');
    return JSON.parse(text.slice(4)) as unknown;
  },
};

describe('registries per app', () => {
  const apps: Celery[] = [];
  const workers: TestWorker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  function makeApp(options: Parameters<typeof createTestApp>[0] = {}): Celery {
    const app = createTestApp(options);
    apps.push(app);
    return app;
  }

  it('runs tasks through a broker and a backend registered for custom URL schemes on that app only', async () => {
    const space = `ext-${uuid()}`;
    const published: WireMessage[] = [];
    const app = makeApp({ broker: `mine://${space}`, backend: `vault://${space}` });
    app.registerBroker('mine', (url, context) => {
      const broker = createMemoryBroker(url.replace('mine://', 'memory://'), context);
      const publish = broker.publish.bind(broker);
      broker.publish = (message, route, options) => {
        // Tasks only: the worker's events (worker-online, heartbeats) and mingle's hello go through here too.
        if (!MONITORING_EXCHANGES.has(route.exchange)) published.push(message);
        return publish(message, route, options);
      };
      return broker;
    });
    app.registerBackend('vault', (url, context) =>
      createMemoryBackend(url.replace('vault://', 'memory://'), context),
    );
    const add = app.task('ext.add', (x: number, y: number) => x + y);
    workers.push(await startTestWorker(app));
    expect(await (await add.delay(2, 3)).get({ timeout: 10 })).toBe(5);
    expect(published).toHaveLength(1);

    const other = makeApp({ broker: `mine://${space}`, backend: `vault://${space}` });
    await expect(other.getBroker()).rejects.toThrow(/Unknown broker URL scheme "mine" in broker/);
    await expect(other.getBackend()).rejects.toThrow(/Unknown result backend URL scheme "vault"/);
    expect(knownBrokerSchemes()).not.toContain('mine');
    expect(knownBackendSchemes()).not.toContain('vault');
  });

  it('sends and accepts a serializer registered on that app, which other apps refuse', async () => {
    const space = `ext-${uuid()}`;
    const app = makeApp({ broker: `memory://${space}`, backend: `memory://${space}` });
    app.registerSerializer(tagged);
    app.configFromObject({ task_serializer: 'tagged', accept_content: ['tagged', 'json'] });
    const echo = app.task('ext.echo', (value: unknown) => value);
    const broker = await app.getBroker();
    const sent: WireMessage[] = [];
    const publish = broker.publish.bind(broker);
    broker.publish = (message, route, options) => {
      if (!MONITORING_EXCHANGES.has(route.exchange)) sent.push(message);
      return publish(message, route, options);
    };
    workers.push(await startTestWorker(app));
    expect(await (await echo.delay({ n: 1 })).get({ timeout: 10 })).toEqual({ n: 1 });
    expect(sent[0]!.contentType).toBe('application/x-tagged-json');
    expect(sent[0]!.body.toString('utf8')).toMatch(/^TAG:/);
    // Eager runs make the same round trip through it.
    const eager = makeApp({ taskAlwaysEager: true });
    eager
      .registerSerializer(tagged)
      .configFromObject({ taskSerializer: 'tagged', acceptContent: ['tagged'] });
    const eagerEcho = eager.task('ext.echo', (value: unknown) => value);
    expect(await (await eagerEcho.delay([1, 'a'])).get()).toEqual([1, 'a']);

    const other = makeApp();
    expect(other.serializers.find('tagged')).toBeUndefined();
    expect(other.conf.accept.accepts('application/x-tagged-json')).toBe(false);
    expect(() => makeApp({ taskSerializer: 'tagged', acceptContent: ['tagged'] }).conf).toThrow(
      /taskSerializer/,
    );
    expect(() => makeApp({ acceptContent: ['tagged'] }).conf).toThrow(/unknown serializer "tagged"/);
    await expect(other.sendTask('ext.echo', [1], {}, { serializer: 'tagged' })).rejects.toBeInstanceOf(
      EncodeError,
    );
  });

  it('refuses bad registrations with errors that say what to do', () => {
    const app = makeApp();
    expect(() =>
      app.registerBroker('my broker://', () => createMemoryBroker('memory://x', {} as never)),
    ).toThrow(/registerBroker\("my broker:\/\/"\): the first argument must be a URL scheme/);
    expect(() => app.registerBackend('vault', 'nope' as never)).toThrow(/second argument must be a function/);
    expect(() => app.registerSerializer({ ...tagged, name: 'pickle' })).toThrow(/never decodes pickle/);
    expect(() => app.registerSerializer({ ...tagged, decode: undefined } as never)).toThrow(
      /needs encode\(value\): Buffer and decode/,
    );
    void app.conf;
    expect(() => app.registerSerializer(tagged)).toThrow(ImproperlyConfigured);
    expect(() => app.registerSerializer(tagged)).toThrow(/right after new Celery\(\)/);
  });
});
