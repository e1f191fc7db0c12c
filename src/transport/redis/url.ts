/**
 * Redis URLs as kombu and Celery's Redis backend read them (reference §2.5.6):
 * `redis://[user:password@]host[:port][/db]`, `rediss://...?ssl_cert_reqs=required&ssl_ca_certs=/path` (TLS), and
 * `sentinel://[user:password@]host:26379[/db];sentinel://host2:26379` (Sentinel; the master name comes from the
 * `master_name` transport option). Pure: no I/O besides reading the certificate files a URL names.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ImproperlyConfigured } from '../../errors.js';
import { maskUrl } from '../../lifecycle/url.js';

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface RedisTarget {
  kind: 'standalone' | 'sentinel';
  /** The Redis server (standalone) or the first sentinel. */
  host: string;
  port: number;
  /** Every sentinel named by the URL (sentinel only). */
  sentinels: RedisEndpoint[];
  db: number;
  username: string | undefined;
  password: string | undefined;
  /** TLS options when the scheme is `rediss://` (or TLS was asked for with query parameters). */
  tls: TlsOptions | undefined;
  /** The URL with its password masked, for logs and errors. */
  display: string;
}

const CERT_REQS: Record<string, 'required' | 'optional' | 'none'> = {
  required: 'required',
  cert_required: 'required',
  optional: 'optional',
  cert_optional: 'optional',
  none: 'none',
  cert_none: 'none',
};

function fail(setting: string, url: string, problem: string): never {
  throw new ImproperlyConfigured(`${setting} "${maskUrl(url)}": ${problem}`);
}

function readPem(setting: string, url: string, parameter: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    return fail(setting, url, `cannot read ${parameter} file ${path}: ${(error as Error).message}`);
  }
}

/** TLS options from kombu's query parameters; verification is on unless `ssl_cert_reqs=none` says otherwise. */
function tlsOptions(setting: string, url: string, query: URLSearchParams, host: string): TlsOptions {
  // SNI takes host names only (RFC 6066); an IP address is still checked against the certificate's IP SANs.
  const tls: TlsOptions = isIP(host) ? {} : { servername: host };
  const reqs = query.get('ssl_cert_reqs');
  if (reqs !== null) {
    const mode = CERT_REQS[reqs.toLowerCase()];
    if (!mode) fail(setting, url, `ssl_cert_reqs must be required, optional or none, got "${reqs}"`);
    // Node has no "verify if presented": optional verifies nothing, like none, and both are spelled out in the docs.
    if (mode !== 'required') tls.rejectUnauthorized = false;
  }
  const ca = query.get('ssl_ca_certs');
  if (ca) tls.ca = readPem(setting, url, 'ssl_ca_certs', ca);
  const cert = query.get('ssl_certfile');
  if (cert) tls.cert = readPem(setting, url, 'ssl_certfile', cert);
  const key = query.get('ssl_keyfile');
  if (key) tls.key = readPem(setting, url, 'ssl_keyfile', key);
  if (query.get('ssl_check_hostname') === 'false') tls.checkServerIdentity = () => undefined;
  return tls;
}

function parseDb(setting: string, url: string, pathname: string): number {
  const path = pathname.replace(/^\/+/, '').replace(/\/+$/, '');
  if (path === '') return 0;
  const db = Number(path);
  if (!Number.isInteger(db) || db < 0) {
    fail(setting, url, `the database must be a number such as /0 or /3, got "/${path}"`);
  }
  return db;
}

function parseOne(setting: string, url: string, text: string): URL {
  try {
    return new URL(text);
  } catch {
    return fail(setting, url, 'is not a valid URL; expected redis://[user:password@]host[:port][/db]');
  }
}

/** Reads a `redis://`, `rediss://` or `sentinel://` URL; errors name the setting and the fix. */
export function parseRedisUrl(url: string, setting: string): RedisTarget {
  const parts = url.split(';').filter((part) => part.trim() !== '');
  const first = parseOne(setting, url, parts[0] ?? url);
  const scheme = first.protocol.replace(/:$/, '').toLowerCase();
  if (!['redis', 'rediss', 'sentinel'].includes(scheme)) {
    fail(setting, url, `unsupported scheme "${scheme}": use redis://, rediss:// or sentinel://`);
  }
  if (parts.length > 1 && scheme !== 'sentinel') {
    fail(setting, url, 'several ";"-separated addresses are only allowed for sentinel:// URLs');
  }
  const sentinels: RedisEndpoint[] = [];
  for (const part of parts) {
    const parsed = parseOne(setting, url, part);
    if (scheme === 'sentinel' && parsed.protocol !== 'sentinel:') {
      fail(
        setting,
        url,
        `every address of a sentinel URL must start with sentinel://, got "${maskUrl(part)}"`,
      );
    }
    sentinels.push({
      host: parsed.hostname || '127.0.0.1',
      port: parsed.port ? Number(parsed.port) : 26379,
    });
  }
  const host = (first.hostname || '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  const port = first.port ? Number(first.port) : scheme === 'sentinel' ? 26379 : 6379;
  const query = first.searchParams;
  const wantsTls = scheme === 'rediss' || query.get('ssl') === 'true';
  if (
    !wantsTls &&
    ['ssl_cert_reqs', 'ssl_ca_certs', 'ssl_certfile', 'ssl_keyfile'].some((k) => query.has(k))
  ) {
    fail(setting, url, 'has TLS parameters but the scheme is redis://; use rediss:// for TLS');
  }
  return {
    kind: scheme === 'sentinel' ? 'sentinel' : 'standalone',
    host,
    port,
    sentinels: scheme === 'sentinel' ? sentinels : [],
    db: parseDb(setting, url, first.pathname),
    username: first.username ? decodeURIComponent(first.username) : undefined,
    password: first.password ? decodeURIComponent(first.password) : undefined,
    tls: wantsTls ? tlsOptions(setting, url, query, host) : undefined,
    display: maskUrl(url),
  };
}

/** The target with TLS turned on by a `brokerUseSsl` / `redisBackendUseSsl` setting (its options win). */
export function withTls(target: RedisTarget, tls: TlsOptions | undefined): RedisTarget {
  return tls ? { ...target, tls: { ...target.tls, ...tls } } : target;
}
