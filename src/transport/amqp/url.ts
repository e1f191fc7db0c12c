/**
 * AMQP URLs with kombu's meaning (`kombu/utils/url.py`, `kombu/transport/pyamqp.py`):
 * `amqp://[user[:password]@]host[:port][/vhost][?heartbeat=10]`, guest/guest and port 5672 (5671 for amqps)
 * by default, the vhost is the path without its first slash (`//` and no path both mean `/`), `pyamqp://` is
 * `amqp://`, and several URLs joined with `;` are failover alternatives tried in turn.
 */
import { hostname } from 'node:os';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ImproperlyConfigured } from '../../errors.js';
import { maskUrl } from '../../lifecycle/url.js';
import type { Options } from './amqplib.js';

export interface AmqpEndpoint {
  /** For logs: the URL with its password masked. */
  readonly display: string;
  readonly connect: Options.Connect;
  readonly tls: boolean;
}

/** Driver settings from `brokerTransportOptions` (and URL query parameters), resolved once. */
export interface AmqpSettings {
  readonly endpoints: readonly AmqpEndpoint[];
  /** Seconds; 0 disables heartbeats. A silent network partition is noticed after two to three of them. */
  readonly heartbeat: number;
  /** Milliseconds a publish waits for the broker's confirm before it fails with ConnectionError. */
  readonly confirmTimeoutMs: number;
  /** The worker hands ETA tasks due later than this back to RabbitMQ instead of holding them (ms). */
  readonly deferEtaAfterMs: number;
  readonly connectTimeoutMs: number;
  /** Passed to `tls.connect` for amqps:// (ca, cert, key, servername, rejectUnauthorized...). */
  readonly tlsOptions: TlsOptions;
}

const SCHEMES: Record<string, 'amqp' | 'amqps'> = { amqp: 'amqp', pyamqp: 'amqp', amqps: 'amqps' };

function seconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new ImproperlyConfigured(
      `brokerTransportOptions.${name} must be a non-negative number of seconds, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function parseOne(raw: string, heartbeat: number, forceTls: boolean): AmqpEndpoint {
  const match = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  const given = match ? SCHEMES[match[1]!.toLowerCase()] : undefined;
  // brokerUseSsl turns TLS on for an amqp:// URL too, on port 5671 unless the URL names one (as kombu's ssl=True).
  const scheme = given && forceTls ? 'amqps' : given;
  if (!scheme) {
    throw new ImproperlyConfigured(
      `broker "${maskUrl(raw)}" is not an AMQP URL: expected amqp://user:password@host:5672/vhost`,
    );
  }
  let url: URL;
  try {
    url = new URL(`${scheme}://${raw.slice(match![0].length)}`);
  } catch {
    throw new ImproperlyConfigured(`broker "${maskUrl(raw)}" is not a valid URL`);
  }
  const path = url.pathname.startsWith('/') ? url.pathname.slice(1) : url.pathname;
  const vhost = decodeURIComponent(path) || '/';
  const query = url.searchParams;
  const connect: Options.Connect = {
    protocol: scheme,
    hostname: url.hostname.replace(/^\[|\]$/g, '') || 'localhost',
    port: url.port ? Number(url.port) : scheme === 'amqps' ? 5671 : 5672,
    username: url.username ? decodeURIComponent(url.username) : 'guest',
    password: url.password ? decodeURIComponent(url.password) : 'guest',
    vhost,
    heartbeat: seconds('heartbeat', query.get('heartbeat') ?? undefined, heartbeat),
    locale: 'en_US',
  };
  const frameMax = query.get('frame_max') ?? query.get('frameMax');
  if (frameMax) connect.frameMax = Number(frameMax);
  const channelMax = query.get('channel_max') ?? query.get('channelMax');
  if (channelMax) connect.channelMax = Number(channelMax);
  const display = `${scheme}://${connect.username}:**@${connect.hostname}:${connect.port}/${vhost === '/' ? '/' : encodeURIComponent(vhost)}`;
  return { display, connect, tls: scheme === 'amqps' };
}

export function parseAmqpSettings(
  url: string,
  transportOptions: Readonly<Record<string, unknown>>,
  connectTimeoutMs: number,
  /** From `brokerUseSsl`: TLS for every endpoint, with these options under those of transportOptions.tls. */
  useSsl?: TlsOptions,
): AmqpSettings {
  const heartbeat = seconds('heartbeat', transportOptions.heartbeat, 10);
  const endpoints = url
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => parseOne(part, heartbeat, useSsl !== undefined));
  if (endpoints.length === 0) throw new ImproperlyConfigured('broker URL is empty');
  const tls = transportOptions.tls ?? transportOptions.ssl;
  if (tls !== undefined && (typeof tls !== 'object' || tls === null)) {
    throw new ImproperlyConfigured(
      'brokerTransportOptions.tls must be an object of tls.connect options (ca, cert, key, servername, ...)',
    );
  }
  return {
    endpoints,
    heartbeat,
    confirmTimeoutMs: seconds('confirmTimeout', transportOptions.confirmTimeout, 30) * 1000,
    // The delay queues count whole seconds: anything due within a second is held, whatever the setting.
    deferEtaAfterMs: Math.max(1, seconds('etaDeferAfter', transportOptions.etaDeferAfter, 30)) * 1000,
    connectTimeoutMs,
    tlsOptions: { ...useSsl, ...(tls as TlsOptions | undefined) },
  };
}

/** What RabbitMQ shows for our connections (`rabbitmqctl list_connections client_properties`). */
export function clientProperties(role: string): Record<string, unknown> {
  return {
    product: 'celeriac',
    connection_name: `celeriac ${role} ${hostname()}:${process.pid}`,
  };
}
