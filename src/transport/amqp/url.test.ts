import { describe, expect, it } from 'vitest';
import { parseAmqpSettings } from './url.js';

const parse = (url: string, options: Record<string, unknown> = {}) => parseAmqpSettings(url, options, 4000);

describe('AMQP URLs, as kombu reads them', () => {
  it.each([
    ['amqp://guest:guest@localhost:5672//', '/'],
    ['amqp://localhost', '/'],
    ['amqp://localhost/', '/'],
    ['amqp://localhost/app', 'app'],
    ['amqp://localhost//app', '/app'],
    ['amqp://localhost/a%2Fb', 'a/b'],
  ])('%s is vhost %s', (url, vhost) => {
    expect(parse(url).endpoints[0]!.connect.vhost).toBe(vhost);
  });

  it('defaults to guest/guest on 5672, 5671 for amqps, and reads pyamqp:// as amqp://', () => {
    expect(parse('pyamqp://rabbit').endpoints[0]!.connect).toMatchObject({
      protocol: 'amqp',
      hostname: 'rabbit',
      port: 5672,
      username: 'guest',
      password: 'guest',
      heartbeat: 10,
    });
    const tls = parse('amqps://u:p%40ss@rabbit', { tls: { rejectUnauthorized: true } });
    expect(tls.endpoints[0]!).toMatchObject({ tls: true, connect: { port: 5671, password: 'p@ss' } });
    expect(tls.tlsOptions).toEqual({ rejectUnauthorized: true });
  });

  it('turns TLS on for amqp:// URLs with brokerUseSsl, on port 5671 unless the URL names one', () => {
    const settings = parseAmqpSettings(
      'amqp://u:p@rabbit//;amqp://u:p@other:5999//',
      { tls: { servername: 's' } },
      1000,
      {
        ca: 'PEM',
        rejectUnauthorized: true,
      },
    );
    expect(settings.endpoints.map((e) => [e.tls, e.connect.protocol, e.connect.port])).toEqual([
      [true, 'amqps', 5671],
      [true, 'amqps', 5999],
    ]);
    expect(settings.endpoints[0]!.display).toBe('amqps://u:**@rabbit:5671//');
    expect(settings.tlsOptions).toEqual({ ca: 'PEM', rejectUnauthorized: true, servername: 's' });
  });

  it('takes failover URLs separated by ";" and never shows passwords', () => {
    const settings = parse('amqp://u:secret@r1//;amqp://u:secret@r2:5673/prod?heartbeat=3');
    expect(settings.endpoints.map((e) => e.display)).toEqual([
      'amqp://u:**@r1:5672//',
      'amqp://u:**@r2:5673/prod',
    ]);
    expect(settings.endpoints[1]!.connect.heartbeat).toBe(3);
  });

  it('reads transport options in seconds and refuses nonsense', () => {
    const settings = parse('amqp://r', { heartbeat: 0, confirmTimeout: 5, etaDeferAfter: 60 });
    expect(settings).toMatchObject({ heartbeat: 0, confirmTimeoutMs: 5000, deferEtaAfterMs: 60_000 });
    expect(parse('amqp://r', { etaDeferAfter: 0 }).deferEtaAfterMs).toBe(1000);
    expect(() => parse('amqp://r', { heartbeat: -1 })).toThrow(/brokerTransportOptions.heartbeat/);
    expect(() => parse('redis://r')).toThrow(/not an AMQP URL/);
  });
});
