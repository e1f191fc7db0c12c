/**
 * `app.setupSecurity()`: message signing with the `auth` serializer, as Celery's `celery/security/__init__.py`
 * sets it up. This is the edge where the key, the certificate and the certificate store are read from disk; the
 * signing itself is pure (protocol/signing.ts).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ImproperlyConfigured, isCeleriacError } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import { CertStore, SigningCertificate, SigningKey } from '../protocol/certificate.js';
import type { Serializers } from '../protocol/serializers/index.js';
import { AuthSerializer, digestFor } from '../protocol/signing.js';
import type { Config } from './config.js';

export interface SecurityOptions {
  /** Path of the PEM private key (default: the securityKey setting). */
  key?: string;
  /** Path of the key's PEM certificate (default: securityCertificate). */
  certificate?: string;
  /** Glob or directory of trusted PEM certificates (default: securityCertStore). */
  certStore?: string;
  /** Signature digest (default: securityDigest, sha256). */
  digest?: string;
  /** What the signed body is serialized with: json (default) or msgpack. */
  serializer?: 'json' | 'msgpack';
  /**
   * Celeriac's strict mode (not readable by Python Celery workers): also sign the headers that decide what runs,
   * and refuse messages signed longer ago than `window` seconds (default 3600) before their ETA.
   */
  strict?: boolean | { window?: number };
}

export interface SecurityHost {
  readonly conf: Config;
  readonly serializers: Serializers;
  logger: Logger;
}

const DEFAULT_STRICT_WINDOW = 3600;

function settingsMissing(what: string): ImproperlyConfigured {
  return new ImproperlyConfigured(
    `setupSecurity() needs ${what}. Signing also needs taskSerializer: 'auth' (messages are signed) and ` +
      "acceptContent: ['auth'] (only signed messages are accepted: there is no point in signing what is not verified)",
  );
}

function readPem(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ImproperlyConfigured(`${setting}: cannot read ${path}: ${(error as Error).message}`);
  }
}

function wildcard(pattern: string): RegExp {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${source}$`);
}

/** The files a `security_cert_store` value names: a directory's files, or a glob on file names (as Celery's). */
export function certStoreFiles(pattern: string): string[] {
  let dir = pattern;
  let name = '*';
  const isDir = (() => {
    try {
      return statSync(pattern).isDirectory();
    } catch {
      return false;
    }
  })();
  if (!isDir) {
    dir = dirname(pattern);
    name = basename(pattern);
  }
  if (/[*?[]/.test(dir)) {
    throw new ImproperlyConfigured(
      `securityCertStore "${pattern}": only the file name may hold wildcards, as in /etc/ssl/celery/*.pem`,
    );
  }
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    throw new ImproperlyConfigured(`securityCertStore "${pattern}": ${(error as Error).message}`);
  }
  const match = wildcard(name);
  // Hidden files match only a pattern that starts with a dot, as in Python's glob.
  return entries
    .filter((entry) => match.test(entry) && (!entry.startsWith('.') || name.startsWith('.')))
    .map((entry) => join(dir, entry))
    .filter((path) => statSync(path).isFile())
    .sort();
}

/** Loads the trusted certificates; an expired one is kept (its messages are refused, naming why) and logged. */
export function loadCertStore(pattern: string, logger: Logger, now = Date.now()): CertStore {
  const store = new CertStore();
  for (const path of certStoreFiles(pattern)) {
    const cert = asConfigError(
      `securityCertStore (${path})`,
      () => new SigningCertificate(readPem('securityCertStore', path)),
    );
    if (cert.hasExpired(now)) {
      logger.warn(
        `Certificate ${path} (${JSON.stringify(cert.id)}) expired on ${new Date(cert.notAfter).toISOString()}: ` +
          'messages signed with it are refused',
      );
    }
    asConfigError(`securityCertStore (${path})`, () => store.add(cert));
  }
  if (store.size === 0) {
    throw new ImproperlyConfigured(
      `securityCertStore "${pattern}" matches no certificate: give a glob of PEM files such as /etc/ssl/celery/*.pem`,
    );
  }
  return store;
}

function asConfigError<T>(setting: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (isCeleriacError(error, 'SecurityError'))
      throw new ImproperlyConfigured(`${setting}: ${(error as Error).message}`);
    throw error;
  }
}

function strictWindow(strict: SecurityOptions['strict']): number | null {
  if (!strict) return null;
  const window = strict === true ? DEFAULT_STRICT_WINDOW : (strict.window ?? DEFAULT_STRICT_WINDOW);
  if (typeof window !== 'number' || !Number.isFinite(window) || window <= 0) {
    throw new ImproperlyConfigured(
      `setupSecurity({ strict: { window } }): window must be a positive number of seconds, got ${JSON.stringify(window)}`,
    );
  }
  return window;
}

/** Builds the app's `auth` serializer from options and settings, and registers it. */
export function setupSecurity(app: SecurityHost, options: SecurityOptions = {}): AuthSerializer {
  const conf = app.conf;
  if (conf.taskSerializer !== 'auth' || conf.acceptContent.length !== 1 || conf.acceptContent[0] !== 'auth') {
    throw settingsMissing(
      `taskSerializer: 'auth' and acceptContent: ['auth'] (got ${JSON.stringify(conf.taskSerializer)} and ${JSON.stringify(conf.acceptContent)})`,
    );
  }
  const keyPath = options.key ?? conf.securityKey;
  const certPath = options.certificate ?? conf.securityCertificate;
  const storePattern = options.certStore ?? conf.securityCertStore;
  if (!keyPath || !certPath || !storePattern) {
    throw settingsMissing(
      'securityKey, securityCertificate and securityCertStore (or key, certificate and certStore)',
    );
  }
  const digest = asConfigError('securityDigest', () => digestFor(options.digest ?? conf.securityDigest));
  const inner = app.serializers.get(options.serializer ?? 'json');
  if (inner.name !== 'json' && inner.name !== 'msgpack') {
    throw new ImproperlyConfigured(
      `setupSecurity({ serializer }): use json or msgpack, got ${JSON.stringify(inner.name)}`,
    );
  }
  const key = asConfigError('securityKey', () => new SigningKey(readPem('securityKey', keyPath)));
  const certificate = asConfigError(
    'securityCertificate',
    () => new SigningCertificate(readPem('securityCertificate', certPath)),
  );
  if (!certificate.matches(key)) {
    throw new ImproperlyConfigured(
      `securityCertificate ${certPath} is not the certificate of securityKey ${keyPath}: give the key's own certificate`,
    );
  }
  const store = loadCertStore(storePattern, app.logger);
  if (!store.has(certificate.id)) {
    app.logger.warn(
      `securityCertificate ${certPath} is not in securityCertStore: workers of this app refuse what it signs itself (retries, callbacks)`,
    );
  }
  const window = strictWindow(options.strict);
  const auth = new AuthSerializer({
    key,
    certificate,
    store,
    digest,
    inner,
    innerFor: (type) => {
      const found = app.serializers.forType(type);
      return found && (found.name === 'json' || found.name === 'msgpack') ? found : undefined;
    },
    now: () => Date.now(),
    strict: window === null ? undefined : { windowMs: window * 1000 },
  });
  app.serializers.register(auth);
  return auth;
}
