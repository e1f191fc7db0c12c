/**
 * Redis for tests: the shared server on 127.0.0.1:6379 (db 10 unless CELERIAC_TEST_REDIS_URL says otherwise), with
 * a key prefix per test file so that files run in parallel and never touch each other's keys, and a private
 * redis-server on a free port for tests that kill or restart it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { uuid } from '../../src/protocol/ids.js';
import { makeCertificates, type TestCertificates } from './certificates.js';

export { makeCertificates, type TestCertificates };

export const REDIS_URL = process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/10';
export const REDIS_DB = Number(new URL(REDIS_URL).pathname.slice(1) || '0');

/** A key prefix unique to one test file run: `celeriac-test:<name>:<8 hex>:`. */
export function testPrefix(name: string): string {
  return `celeriac-test:${name}:${uuid().slice(0, 8)}:`;
}

export function testClient(url = REDIS_URL): Redis {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

/** Deletes every key under `prefix` (never FLUSHDB: the database is shared). */
export async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(
      cursor,
      'MATCH',
      `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
      'COUNT',
      1000,
    );
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface PrivateRedisMode {
  /** Speak TLS only, with a certificate from a throw-away CA (`certificates`). */
  tls?: boolean;
  /** With tls: require clients to present a certificate signed by that CA (mutual TLS). */
  tlsAuthClients?: boolean;
  /** Run as a Sentinel monitoring the server on this port. */
  sentinelOf?: number;
}

/**
 * A redis-server of our own, on a free port, with an append-only file so that a restart keeps the data; optionally
 * speaking TLS only, or running as a Sentinel that monitors another server.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'celeriac-redis-'));
  certificates: TestCertificates | undefined;

  private constructor(
    readonly port: number,
    private readonly mode: PrivateRedisMode = {},
  ) {}

  static async start(mode: PrivateRedisMode = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), mode);
    if (mode.tls) redis.certificates = makeCertificates(redis.dir);
    await redis.launch();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  private args(): string[] {
    if (this.mode.sentinelOf !== undefined) {
      const conf = join(this.dir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${this.port}`,
          'bind 127.0.0.1',
          `dir ${this.dir}`,
          `sentinel monitor celeriac-test 127.0.0.1 ${this.mode.sentinelOf} 1`,
          'sentinel down-after-milliseconds celeriac-test 60000',
          '',
        ].join('\n'),
      );
      return [conf, '--sentinel'];
    }
    const common = [
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
    ];
    const certs = this.certificates;
    if (!certs) return ['--port', String(this.port), ...common];
    return [
      '--port',
      '0',
      '--tls-port',
      String(this.port),
      '--tls-cert-file',
      certs.cert,
      '--tls-key-file',
      certs.key,
      '--tls-ca-cert-file',
      certs.ca,
      '--tls-auth-clients',
      this.mode.tlsAuthClients ? 'yes' : 'no',
      ...common,
    ];
  }

  async launch(): Promise<void> {
    const child = spawn('redis-server', this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (chunk: Buffer): void => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections') || out.includes('Sentinel ID is')) resolve();
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    });
  }

  /** kill -9, as a crash. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
