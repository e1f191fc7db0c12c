import { describe, expect, it } from 'vitest';
import { ImproperlyConfigured } from '../../errors.js';
import { parseRedisUrl } from './url.js';

describe('parseRedisUrl', () => {
  it('reads redis:// URLs as kombu does', () => {
    expect(parseRedisUrl('redis://', 'broker')).toMatchObject({
      kind: 'standalone',
      host: '127.0.0.1',
      port: 6379,
      db: 0,
    });
    expect(parseRedisUrl('redis://user:p%40ss@cache.local:6380/3', 'broker')).toMatchObject({
      host: 'cache.local',
      port: 6380,
      db: 3,
      username: 'user',
      password: 'p@ss',
      tls: undefined,
      display: 'redis://user:****@cache.local:6380/3',
    });
    expect(parseRedisUrl('redis://[::1]:6379/1', 'broker')).toMatchObject({ host: '::1', db: 1 });
  });

  it('turns rediss:// into TLS that verifies unless ssl_cert_reqs says otherwise', () => {
    expect(parseRedisUrl('rediss://cache.local', 'broker').tls).toEqual({ servername: 'cache.local' });
    expect(parseRedisUrl('rediss://10.0.0.1?ssl_cert_reqs=CERT_NONE', 'broker').tls).toEqual({
      rejectUnauthorized: false,
    });
  });

  it('reads every address of a sentinel:// URL', () => {
    const target = parseRedisUrl('sentinel://:pw@s1:26379/2;sentinel://s2:26380', 'backend');
    expect(target).toMatchObject({ kind: 'sentinel', db: 2, password: 'pw' });
    expect(target.sentinels).toEqual([
      { host: 's1', port: 26379 },
      { host: 's2', port: 26380 },
    ]);
  });

  it.each([
    ['redis://host/x', /database must be a number/],
    ['rediss://host?ssl_cert_reqs=sometimes', /ssl_cert_reqs must be required, optional or none/],
    ['redis://host?ssl_ca_certs=/ca.pem', /use rediss:\/\/ for TLS/],
    ['rediss://host?ssl_ca_certs=/no/such/ca.pem', /cannot read ssl_ca_certs file \/no\/such\/ca.pem/],
    ['redis://a;redis://b', /only allowed for sentinel/],
    ['amqp://host', /unsupported scheme "amqp"/],
  ])('rejects %s with a message naming the fix', (url, message) => {
    expect(() => parseRedisUrl(url, 'broker')).toThrow(ImproperlyConfigured);
    expect(() => parseRedisUrl(url, 'broker')).toThrow(message);
  });
});
