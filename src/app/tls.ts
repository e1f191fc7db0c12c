/**
 * `broker_use_ssl` and `redis_backend_use_ssl`: TLS for the broker and the Redis result backend, validated when
 * the configuration compiles and turned into Node `tls.connect` options (files read) when the app connects.
 *
 * Accepted keys: Node's (`ca`, `cert`, `key`, `passphrase`, `servername`, `rejectUnauthorized`) and Celery's,
 * as kombu reads them for Redis (`ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_cert_reqs`) and for py-amqp
 * (`ca_certs`, `certfile`, `keyfile`, `cert_reqs`). `ca`, `cert` and `key` take PEM text or a file path; the
 * Celery keys take file paths. `true` means TLS with the system's trusted CAs and full verification.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { ImproperlyConfigured } from '../errors.js';

/** A validated TLS setting: where each piece comes from, and whether the server is verified. */
export interface TlsSetting {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly passphrase?: string;
  readonly servername?: string;
  /** `ssl_cert_reqs=none|optional` or `rejectUnauthorized: false` turn verification off. */
  readonly rejectUnauthorized: boolean;
}

const ALIASES: Record<string, 'ca' | 'cert' | 'key' | 'reqs'> = {
  ca: 'ca',
  ssl_ca_certs: 'ca',
  ca_certs: 'ca',
  cert: 'cert',
  ssl_certfile: 'cert',
  certfile: 'cert',
  key: 'key',
  ssl_keyfile: 'key',
  keyfile: 'key',
  ssl_cert_reqs: 'reqs',
  cert_reqs: 'reqs',
};
const OTHER_KEYS = new Set(['passphrase', 'servername', 'rejectUnauthorized', 'reject_unauthorized']);

/** Python's `ssl.CERT_NONE` (0), `CERT_OPTIONAL` (1), `CERT_REQUIRED` (2), by value or by name. */
function certReqsVerify(setting: string, value: unknown): boolean {
  const text = typeof value === 'number' ? ['none', 'optional', 'required'][value] : value;
  const mode = typeof text === 'string' ? text.toLowerCase().replace(/^(ssl\.)?cert_/, '') : undefined;
  if (mode === 'required') return true;
  // Node has no "verify if presented": optional verifies nothing, like none (docs/security.md says so).
  if (mode === 'none' || mode === 'optional') return false;
  throw new ImproperlyConfigured(
    `${setting}.ssl_cert_reqs must be "required", "optional" or "none" (or ssl.CERT_*), got ${JSON.stringify(value)}`,
  );
}

function pemOrPath(setting: string, key: string, value: unknown): string | Buffer {
  if (Buffer.isBuffer(value) || (typeof value === 'string' && value !== '')) return value;
  throw new ImproperlyConfigured(
    `${setting}.${key} must be PEM text or the path of a PEM file, got ${JSON.stringify(value)}`,
  );
}

/** Validates a `brokerUseSsl` / `redisBackendUseSsl` value; null when TLS is not asked for. */
export function compileTlsSetting(setting: string, value: unknown): TlsSetting | null {
  if (value === undefined || value === null || value === false) return null;
  if (value === true) return { rejectUnauthorized: true };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ImproperlyConfigured(
      `${setting} must be true or an object such as { ca: '/etc/ssl/ca.pem', cert, key, rejectUnauthorized: true }, got ${JSON.stringify(value)}`,
    );
  }
  const out: { -readonly [K in keyof TlsSetting]: TlsSetting[K] } = { rejectUnauthorized: true };
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    if (raw === undefined || raw === null) continue;
    const alias = ALIASES[key];
    if (alias === 'reqs') out.rejectUnauthorized = certReqsVerify(setting, raw);
    else if (alias) out[alias] = pemOrPath(setting, key, raw);
    else if (key === 'rejectUnauthorized' || key === 'reject_unauthorized') {
      if (typeof raw !== 'boolean') throw new ImproperlyConfigured(`${setting}.${key} must be true or false`);
      out.rejectUnauthorized = raw;
    } else if (OTHER_KEYS.has(key) && typeof raw === 'string') out[key as 'passphrase' | 'servername'] = raw;
    else {
      throw new ImproperlyConfigured(
        `${setting} has an unknown key "${key}": use ca, cert, key, passphrase, servername, rejectUnauthorized ` +
          "(or Celery's ssl_ca_certs, ssl_certfile, ssl_keyfile, ssl_cert_reqs)",
      );
    }
  }
  return out;
}

function load(setting: string, key: string, value: string | Buffer): string | Buffer {
  if (Buffer.isBuffer(value) || value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value);
  } catch (error) {
    throw new ImproperlyConfigured(`${setting}.${key}: cannot read ${value}: ${(error as Error).message}`);
  }
}

/** Node `tls.connect` options for a compiled setting, reading the files it names. */
export function loadTlsOptions(setting: string, tls: TlsSetting): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized: tls.rejectUnauthorized };
  if (tls.ca !== undefined) options.ca = load(setting, 'ca', tls.ca);
  if (tls.cert !== undefined) options.cert = load(setting, 'cert', tls.cert);
  if (tls.key !== undefined) options.key = load(setting, 'key', tls.key);
  if (tls.passphrase !== undefined) options.passphrase = tls.passphrase;
  if (tls.servername !== undefined) options.servername = tls.servername;
  return options;
}
