/**
 * RabbitMQ for tests: a vhost of its own per test file on the shared node (127.0.0.1:5672, guest/guest), created
 * and deleted with rabbitmqctl, so files run in parallel without seeing each other's queues; and a private node
 * on other ports for tests that stop the broker (stop_app, consumer_timeout changes).
 */
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { uuid } from '../../src/protocol/ids.js';
import { makeCertificates, type TestCertificates } from './certificates.js';

const run = promisify(execFile);

export async function rabbitmqctl(args: readonly string[], node?: string): Promise<string> {
  const { stdout } = await run('rabbitmqctl', [...(node ? ['-n', node] : []), '-q', ...args], {
    timeout: 60_000,
  });
  return stdout;
}

export interface Vhost {
  readonly name: string;
  /** amqp://guest:guest@127.0.0.1:5672/<vhost> */
  readonly url: string;
  remove(): Promise<void>;
}

/** A fresh vhost with full permissions for guest; `remove()` deletes it with everything in it. */
export async function createVhost(label: string, node?: string, port = 5672): Promise<Vhost> {
  const name = `celeriac-${label}-${uuid().slice(0, 8)}`;
  await rabbitmqctl(['add_vhost', name], node);
  await rabbitmqctl(['set_permissions', '-p', name, 'guest', '.*', '.*', '.*'], node);
  return {
    name,
    url: `amqp://guest:guest@127.0.0.1:${port}/${encodeURIComponent(name)}`,
    remove: async () => {
      await rabbitmqctl(['delete_vhost', name], node).catch(() => undefined);
    },
  };
}

/** `name messages` pairs of the vhost's queues. */
export async function listQueues(vhost: string, node?: string): Promise<Map<string, number>> {
  const out = await rabbitmqctl(['list_queues', '-p', vhost, '--no-table-headers', 'name', 'messages'], node);
  const map = new Map<string, number>();
  for (const line of out.trim().split('\n')) {
    const [name, count] = line.trim().split(/\s+/);
    if (name) map.set(name, Number(count));
  }
  return map;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface PrivateNode {
  readonly node: string;
  readonly port: number;
  readonly url: string;
  /** With `tls`: the TLS listener's port and `amqps://` URL, and the certificates (CA, server, client). */
  readonly tlsPort?: number;
  readonly tlsUrl?: string;
  readonly certificates?: TestCertificates;
  ctl(args: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

/** The node's TLS listener: certificates from a throw-away CA; clients may present one (verify_peer). */
function tlsConfig(certs: TestCertificates, port: number): string {
  return [
    `listeners.ssl.local = 127.0.0.1:${port}`,
    `ssl_options.cacertfile = ${certs.ca}`,
    `ssl_options.certfile = ${certs.cert}`,
    `ssl_options.keyfile = ${certs.key}`,
    'ssl_options.verify = verify_peer',
    'ssl_options.fail_if_no_peer_cert = false',
    '',
  ].join('\n');
}

/** rabbitmq-server drops to the rabbitmq user when started as root; it must own its directory and files. */
async function chownToRabbit(paths: readonly string[]): Promise<void> {
  try {
    const { stdout } = await run('id', ['-u', 'rabbitmq']);
    const { stdout: gid } = await run('id', ['-g', 'rabbitmq']);
    for (const path of paths) chownSync(path, Number(stdout.trim()), Number(gid.trim()));
  } catch {
    // Not root, or no rabbitmq user: the server runs as us.
  }
}

/**
 * Starts a RabbitMQ node of our own (own node name, ports and mnesia directory), for tests that stop or
 * reconfigure the broker without disturbing other test files. About five seconds to start. With `tls`, it also
 * listens for TLS (amqps) with a server certificate made by openssl.
 */
export async function startPrivateNode(label: string, options: { tls?: boolean } = {}): Promise<PrivateNode> {
  const dir = mkdtempSync(join(tmpdir(), `celeriac-rabbit-${label}-`));
  const port = await freePort();
  const distPort = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const node = `celeriac-${label}-${process.pid}@localhost`;
  const certificates = options.tls ? makeCertificates(dir) : undefined;
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    `listeners.tcp.local = 127.0.0.1:${port}\nloopback_users = none\n` +
      (certificates && tlsPort ? tlsConfig(certificates, tlsPort) : ''),
  );
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  await chownToRabbit([dir, ...readdirSync(dir).map((file) => join(dir, file))]);
  const env = {
    ...process.env,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: join(dir, 'pid'),
  };
  await run('rabbitmq-server', ['-detached'], { env, timeout: 30_000 });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await rabbitmqctl(['await_startup', '--timeout', '30'], node);
      break;
    } catch (error) {
      // The node registers with epmd a moment after -detached returns; until then await_startup fails at once.
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  return {
    node,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}//`,
    ...(tlsPort && certificates
      ? { tlsPort, tlsUrl: `amqps://guest:guest@127.0.0.1:${tlsPort}//`, certificates }
      : {}),
    ctl: (args) => rabbitmqctl(args, node),
    stop: async () => {
      await rabbitmqctl(['stop'], node).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
