/**
 * Secure defaults, on a SQLite broker and backend: `maxMessageSize` enforced by the producer (it refuses to
 * send) and by the worker (an oversized body, and a small compressed body that would inflate past the limit, are
 * rejected and stored as FAILURE); a body compressed with a codec Celeriac does not read is stored as FAILURE
 * instead of staying PENDING; brotli (which Python Celery reads only with an extra module) works between
 * Celeriac peers; and after each rejection the worker runs the next task. The root warning is checked here too.
 */
import { brotliCompressSync, deflateSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqliteBroker } from '../../src/brokers/sqlite/sqlite-broker.js';
import { Celery, EncodeError, RemoteTaskError, Worker } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { checkPrivileges, rootWarning } from '../../src/worker/privileges.js';
import { tempDir } from '../support/tmp.js';

const LIMIT = 4096;
const dir = tempDir('secure-defaults');
const url = `sqlite://${join(dir.path, 'celeriac.db')}`;
const queue = 'secure-defaults';
let app: Celery;
let worker: Worker;

beforeAll(async () => {
  app = new Celery('secure-defaults', {
    broker: url,
    backend: url,
    maxMessageSize: LIMIT,
    taskDefaultQueue: queue,
  });
  app.logger = silentLogger();
  app.task('defaults.echo', (value: string) => value.length);
  worker = new Worker(app, { queues: [queue], logger: silentLogger() });
  await worker.start();
});
afterAll(async () => {
  await worker?.stop();
  await app?.close();
  dir.remove();
});

/** Publishes a message as given, bypassing the producer's checks (as a foreign or hostile producer could). */
async function publishRaw(body: Buffer, headers: Record<string, string> = {}): Promise<string> {
  const id = uuid();
  const broker = await app.getBroker();
  await broker.publish(
    {
      headers: { task: 'defaults.echo', id, lang: 'py', ...headers },
      properties: { correlation_id: id },
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      body,
    },
    { exchange: '', routingKey: queue },
  );
  return id;
}

async function failureOf(id: string): Promise<RemoteTaskError> {
  const error = await app.AsyncResult(id).get({ timeout: 15, propagate: false });
  expect(error).toBeInstanceOf(RemoteTaskError);
  return error as RemoteTaskError;
}

async function nextTaskRuns(): Promise<void> {
  expect(await (await app.sendTask<number>('defaults.echo', ['ok'])).get({ timeout: 15 })).toBe(2);
}

async function deadLetterReasons(): Promise<string[]> {
  return ((await app.getBroker()) as SqliteBroker).deadLetters(queue).map((d) => d.reason);
}

describe('maxMessageSize', () => {
  it('is refused by the producer, naming the setting and the fix', async () => {
    await expect(app.sendTask('defaults.echo', ['x'.repeat(LIMIT)])).rejects.toThrow(EncodeError);
    await expect(app.sendTask('defaults.echo', ['x'.repeat(LIMIT)])).rejects.toThrow(
      /is \d+ bytes, over the maxMessageSize limit of 4096 bytes: pass a reference .* or raise maxMessageSize/,
    );
  });

  it('is enforced by the worker: an oversized body is rejected and stored as FAILURE', async () => {
    const id = await publishRaw(Buffer.from(JSON.stringify([['x'.repeat(LIMIT)], {}, {}])));
    expect((await failureOf(id)).remoteMessage).toMatch(/over the maxMessageSize limit of 4096 bytes/);
    expect(await deadLetterReasons()).toContain('message-too-large');
    await nextTaskRuns();
  });

  it('bounds decompression too: a small body that inflates past the limit is rejected, not inflated', async () => {
    const bomb = deflateSync(Buffer.from(JSON.stringify([['x'.repeat(1_000_000)], {}, {}])));
    expect(bomb.length).toBeLessThan(LIMIT);
    const id = await publishRaw(bomb, { compression: 'application/x-gzip' });
    expect((await failureOf(id)).remoteMessage).toMatch(
      /Decompressed body \(application\/x-gzip\) is over the maxMessageSize limit of 4096 bytes/,
    );
    await nextTaskRuns();
  });
});

describe('compression', () => {
  it('stores FAILURE for a codec Celeriac does not read, instead of leaving the task PENDING', async () => {
    const id = await publishRaw(Buffer.from('BZh91AY&SY'), { compression: 'application/x-bz2' });
    const error = await failureOf(id);
    expect(error.remoteMessage).toMatch(/Unsupported compression "application\/x-bz2": Celeriac reads/);
    expect(await deadLetterReasons()).toContain('bad-compression');
    await nextTaskRuns();
  });

  it('runs brotli-compressed tasks between Celeriac peers', async () => {
    const id = await publishRaw(brotliCompressSync(Buffer.from(JSON.stringify([['abc'], {}, {}]))), {
      compression: 'application/x-brotli',
    });
    expect(await app.AsyncResult(id).get({ timeout: 15 })).toBe(3);
    const sent = await app.sendTask<number>('defaults.echo', ['abcd'], {}, { compression: 'brotli' });
    expect(await sent.get({ timeout: 15 })).toBe(4);
  });
});

describe('running as root', () => {
  it("warns as Celery's C_FORCE_ROOT guard does when messages are not signed", () => {
    const root = { uid: 0, euid: 0, gid: 0, egid: 0 };
    expect(rootWarning(root, false)).toMatch(
      /^You're running the worker with superuser privileges: this is absolutely not recommended!/,
    );
    expect(rootWarning(root, false)).toMatch(/User information: uid=0 euid=0 gid=0 egid=0$/);
    expect(rootWarning({ uid: 1000, euid: 0, gid: 1000, egid: 1000 }, false)).not.toBeNull();
    expect(rootWarning(root, true)).toBeNull();
    expect(rootWarning({ uid: 1000, euid: 1000, gid: 1000, egid: 1000 }, false)).toBeNull();
    const emitted: string[] = [];
    checkPrivileges(false, root, (message) => emitted.push(message));
    checkPrivileges(true, root, (message) => emitted.push(message));
    expect(emitted.map((m) => m.split('\n')[0])).toEqual([
      "You're running the worker with superuser privileges: this is absolutely not recommended!",
    ]);
  });
});
