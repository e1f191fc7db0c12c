import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resultFixtures } from '../../../test/golden/fixtures.js';
import { PrivateRedis, REDIS_URL, testClient } from '../../../test/support/redis.js';
import { silentLogger } from '../../lifecycle/logger.js';
import { uuid } from '../../protocol/ids.js';
import { States } from '../../types.js';
import { backendConformance } from '../conformance/backend-suite.js';
import { buildMeta } from '../meta.js';
import { createRedisBackend, RedisBackend } from './redis-backend.js';

// Task and group ids are fresh UUIDs in every test, so the shared database needs no prefix here.
backendConformance('redis', {
  create: ({ resultExpires }) =>
    createRedisBackend(REDIS_URL, { logger: silentLogger(), resultExpires, transportOptions: {} }),
});

const client = testClient();
const open: RedisBackend[] = [];
let privateRedis: PrivateRedis;

async function connected(
  url = REDIS_URL,
  resultExpires: number | null = 600,
  transportOptions: Record<string, unknown> = {},
): Promise<RedisBackend> {
  const backend = new RedisBackend(url, { logger: silentLogger(), resultExpires, transportOptions });
  await backend.connect();
  open.push(backend);
  return backend;
}

function success(taskId: string, result: unknown = 'ok') {
  return buildMeta({ state: States.SUCCESS, result, request: { taskId } });
}

async function subscribers(taskId: string): Promise<number> {
  const reply = (await client.pubsub('NUMSUB', `celery-task-meta-${taskId}`)) as [string, number];
  return Number(reply[1]);
}

beforeAll(async () => {
  privateRedis = await PrivateRedis.start();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await privateRedis.stop();
  client.disconnect();
});

describe('redis result backend', () => {
  it('reads the metas Celery 5.2.6 stored', async () => {
    const backend = await connected();
    for (const fixture of resultFixtures) {
      const id = uuid();
      const raw = fixture.raw.split(fixture.task_id).join(id);
      await client.set(`celery-task-meta-${id}`, raw, 'EX', 60);
      expect(await backend.get(id)).toEqual(JSON.parse(raw));
    }
  });

  it('writes with SETEX result_expires and PUBLISHes on the key, or SET when results never expire', async () => {
    const expiring = await connected(REDIS_URL, 3600);
    const forever = await connected(REDIS_URL, null);
    const listener = testClient();
    const a = uuid();
    const b = uuid();
    await listener.subscribe(`celery-task-meta-${a}`);
    const published = new Promise<string>((resolve) =>
      listener.on('message', (_c, message: string) => resolve(message)),
    );
    const meta = success(a);
    await expiring.store(meta);
    expect(JSON.parse(await published)).toEqual(meta);
    expect(await client.ttl(`celery-task-meta-${a}`)).toBeGreaterThan(3500);
    await forever.store(success(b));
    expect(await client.ttl(`celery-task-meta-${b}`)).toBe(-1);
    await client.del(`celery-task-meta-${b}`);
    listener.disconnect();
  });

  it('does not overwrite a SUCCESS that Python stored', async () => {
    const backend = await connected();
    const id = uuid();
    const python = `{"status": "SUCCESS", "result": 5, "traceback": null, "children": [], "date_done": "2026-11-24T20:07:15.929407", "task_id": "${id}"}`;
    await client.set(`celery-task-meta-${id}`, python, 'EX', 60);
    await backend.store(
      buildMeta({ state: States.FAILURE, result: new Error('late'), request: { taskId: id } }),
    );
    expect(await client.get(`celery-task-meta-${id}`)).toBe(python);
  });

  it('subscribes only while someone waits, and lets go of the channel once the result is in', async () => {
    const backend = await connected();
    const writer = await connected();
    const id = uuid();
    expect(await subscribers(id)).toBe(0);
    const waiting = backend.waitFor(id, { timeoutMs: 5_000 });
    await expect.poll(() => subscribers(id)).toBe(1);
    await writer.store(success(id, 7));
    expect((await waiting).result).toBe(7);
    await expect.poll(() => subscribers(id)).toBe(0);
  });

  it('finds a result stored before anyone waited (SUBSCRIBE, then GET)', async () => {
    const backend = await connected();
    const writer = await connected();
    const id = uuid();
    await writer.store(success(id, 8));
    expect((await backend.waitFor(id, { timeoutMs: 5_000 })).result).toBe(8);
    await expect.poll(() => subscribers(id)).toBe(0);
  });

  it('gets a result published while its connection was down (re-subscribes, then reads again)', async () => {
    const backend = await connected(privateRedis.url);
    const writer = await connected(privateRedis.url);
    const id = uuid();
    const progress: string[] = [];
    const waiting = backend.waitFor(id, { timeoutMs: 30_000, onProgress: (m) => progress.push(m.status) });
    await writer.store(buildMeta({ state: 'PROGRESS', result: { done: 1 }, request: { taskId: id } }));
    await expect.poll(() => progress).toEqual(['PROGRESS']);
    await privateRedis.kill();
    await privateRedis.launch();
    await writer.store(success(id, 'after restart'));
    expect((await waiting).result).toBe('after restart');
  });

  it('counts chord parts in the keys and members Celery uses', async () => {
    const backend = await connected();
    const gid = uuid();
    const base = `celery-taskset-meta-${gid}`;
    await backend.setChordSize(gid, 3);
    expect(await client.get(`${base}.s`)).toBe('3');
    const first = await backend.addChordPart(gid, {
      taskId: 't2',
      state: 'SUCCESS',
      result: 'é',
      groupIndex: 2,
    });
    expect(first).toEqual({ ready: 1, size: 3, extra: 0 });
    await backend.addChordPart(gid, { taskId: 't0', state: 'SUCCESS', result: [1, 2], groupIndex: 0 });
    // The same part recorded twice (a redelivered header task) is counted once.
    await backend.addChordPart(gid, { taskId: 't0', state: 'SUCCESS', result: [1, 2], groupIndex: 0 });
    const error = { exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' };
    const last = await backend.addChordPart(gid, {
      taskId: 't1',
      state: 'FAILURE',
      result: error,
      groupIndex: 1,
    });
    expect(last).toEqual({ ready: 3, size: 3, extra: 0 });
    // Python's json.dumps([1, tid, state, result]), scored by group_index (celery/backends/redis.py:452).
    expect(await client.zrange(`${base}.j`, 0, -1, 'WITHSCORES')).toEqual([
      '[1, "t0", "SUCCESS", [1, 2]]',
      '0',
      '[1, "t1", "FAILURE", {"exc_type": "ValueError", "exc_message": ["boom"], "exc_module": "builtins"}]',
      '1',
      '[1, "t2", "SUCCESS", "\\u00e9"]',
      '2',
    ]);
    expect(await client.ttl(`${base}.j`)).toBeGreaterThan(500);
    expect(await backend.chordParts(gid)).toEqual([
      [1, 't0', 'SUCCESS', [1, 2]],
      [1, 't1', 'FAILURE', error],
      [1, 't2', 'SUCCESS', 'é'],
    ]);
    await backend.addToChord(gid, 2);
    expect(
      (await backend.addChordPart(gid, { taskId: 't3', state: 'SUCCESS', result: null, groupIndex: null }))
        .extra,
    ).toBe(2);
    await backend.deleteChord(gid);
    expect(await client.exists(`${base}.j`, `${base}.t`, `${base}.s`)).toBe(0);
  });

  it('keeps chord parts in a list with result_chord_ordered false', async () => {
    const backend = await connected(REDIS_URL, 600, { result_chord_ordered: false });
    const gid = uuid();
    await backend.addChordPart(gid, { taskId: 'b', state: 'SUCCESS', result: 2, groupIndex: 1 });
    await backend.addChordPart(gid, { taskId: 'a', state: 'SUCCESS', result: 1, groupIndex: 0 });
    expect(await client.type(`celery-taskset-meta-${gid}.j`)).toBe('list');
    expect((await backend.chordParts(gid)).map((p) => p[1])).toEqual(['b', 'a']);
    await backend.deleteChord(gid);
  });

  it('saves groups as Celery does: celery-taskset-meta-<gid> = {"result": <tuple>}', async () => {
    const backend = await connected();
    const gid = uuid();
    const child = uuid();
    await backend.saveGroup(gid, { result: [[gid, null], [[[child, null], null]]] });
    expect(JSON.parse((await client.get(`celery-taskset-meta-${gid}`))!)).toEqual({
      result: [[gid, null], [[[child, null], null]]],
    });
    await backend.deleteGroup(gid);
  });
});
