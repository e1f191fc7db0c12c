/**
 * Redis helpers for the benchmark: server CPU from INFO, pre-filled kombu queues, waiting for stored results, and
 * clean-up by key prefix or by task id (never FLUSHDB: the database may be shared).
 */
import { Redis } from 'ioredis';
import { encodeEnvelope } from '../../src/protocol/envelope.js';
import { uuid } from '../../src/protocol/ids.js';
import { encodeTaskMessage } from '../../src/protocol/message.js';

export function client(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3 });
}

/** Seconds of CPU (user + sys) the Redis server has used since it started. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const get = (key: string): number => Number(new RegExp(`${key}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

export async function redisVersion(url: string): Promise<string> {
  const redis = client(url);
  try {
    return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
}

/**
 * Writes `n` `bench.noop` task messages (kombu's Redis layout, protocol 2, JSON) into `stagingKey`, pipelined.
 * `ignoreResult` sets the message's ignore_result header. Returns the task ids.
 */
export async function stageKombuMessages(
  redis: Redis,
  stagingKey: string,
  queue: string,
  n: number,
  ignoreResult: boolean,
): Promise<string[]> {
  const ids: string[] = [];
  const now = Date.now();
  for (let start = 0; start < n; start += 1000) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      const id = uuid();
      ids.push(id);
      const wire = encodeTaskMessage(
        {
          id,
          task: 'bench.noop',
          args: [i],
          kwargs: {},
          origin: 'bench@host',
          replyTo: 'bench',
          ignoreResult,
        },
        { serializer: 'json', now },
      );
      pipeline.lpush(
        stagingKey,
        encodeEnvelope(wire, { exchange: '', routingKey: queue, deliveryTag: uuid() }),
      );
    }
    await pipeline.exec();
  }
  return ids;
}

export const resultKey = (id: string): string => `celery-task-meta-${id}`;

/** True once every id has a stored result (checks the last ones first, as they finish last). */
export async function allStored(redis: Redis, ids: readonly string[]): Promise<boolean> {
  const tail = ids.slice(-100).map(resultKey);
  if ((await redis.exists(...tail)) < tail.length) return false;
  for (let i = 0; i < ids.length; i += 5000) {
    const keys = ids.slice(i, i + 5000).map(resultKey);
    if ((await redis.exists(...keys)) < keys.length) return false;
  }
  return true;
}

/** How many of `ids` have no stored result yet (a full count: for progress checks, not for tight loops). */
export async function missingResults(redis: Redis, ids: readonly string[]): Promise<number> {
  let missing = 0;
  for (let i = 0; i < ids.length; i += 5000) {
    const keys = ids.slice(i, i + 5000).map(resultKey);
    missing += keys.length - (await redis.exists(...keys));
  }
  return missing;
}

export async function deleteResults(redis: Redis, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 5000) {
    const keys = ids.slice(i, i + 5000).map(resultKey);
    if (keys.length > 0) await redis.unlink(...keys);
  }
}

/** Deletes every key that starts with `prefix`. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(
      cursor,
      'MATCH',
      `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
      'COUNT',
      1000,
    );
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/** A connection for BullMQ (its blocking commands want no per-request retry limit). */
export function bullConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}
