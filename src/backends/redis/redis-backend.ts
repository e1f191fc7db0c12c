/**
 * `redis://`, `rediss://` and `sentinel://` result backend, in Celery's layout (`celery/backends/redis.py`,
 * reference §2.7): `celery-task-meta-<id>` written with SETEX (SET when `resultExpires` is null) and PUBLISHed on
 * its own channel in one script that also keeps a stored SUCCESS; `celery-taskset-meta-<gid>` for saved groups;
 * the chord counter keys `.j` / `.s` / `.t`; `waitFor` by SUBSCRIBE then GET (result-listener.ts).
 *
 * Writes wait for a reconnect instead of failing (commands queue while Redis is away), so a worker that loses
 * Redis for a moment still records its results.
 */
import { ImproperlyConfigured } from '../../errors.js';
import { Batcher } from '../../lifecycle/async.js';
import type { Logger } from '../../lifecycle/logger.js';
import { RedisConnection, type RedisConnectionSettings } from '../../transport/redis/client.js';
import { parseRedisUrl, withTls, type RedisTarget } from '../../transport/redis/url.js';
import { maskUrl } from '../../lifecycle/url.js';
import { pythonJsonDumps } from '../../protocol/pyjson.js';
import type { JsonValue, ResultMeta } from '../../types.js';
import type {
  BackendCapabilities,
  BackendContext,
  ChordCounter,
  ChordPart,
  ChordProgress,
  GroupMeta,
  ResultBackend,
  WaitOptions,
} from '../backend.js';
import { addChordPartScript, claimChordScript } from './lua/chord.js';
import { storeScript } from './lua/store.js';
import { ResultListener, TASK_KEY_PREFIX } from './result-listener.js';
import { encodeJson, decodeJson } from '../../protocol/serializers/json.js';

const GROUP_KEY_PREFIX = 'celery-taskset-meta-';

interface BackendOptions {
  /** `.j` is a sorted set scored by group index (Celery's default), or a list when false. */
  chordOrdered: boolean;
  connection: RedisConnectionSettings;
}

function readOptions(options: Readonly<Record<string, unknown>>): BackendOptions {
  const get = (snake: string, camel: string): unknown => options[camel] ?? options[snake];
  const number = (snake: string, camel: string, fallback: number): number => {
    const value = get(snake, camel);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !(value >= 0)) {
      throw new ImproperlyConfigured(
        `Invalid result backend transport option ${snake}: ${JSON.stringify(value)}: expected a non-negative number`,
      );
    }
    return value;
  };
  const ordered = get('result_chord_ordered', 'resultChordOrdered') ?? true;
  const master = get('master_name', 'masterName');
  const sentinel = get('sentinel_kwargs', 'sentinelKwargs') as { password?: unknown } | undefined;
  const tls = get('tls', 'tls');
  const clientName = get('client_name', 'clientName');
  return {
    chordOrdered: ordered !== false,
    connection: {
      socketTimeout: Math.max(1, number('socket_timeout', 'socketTimeout', 15)),
      connectTimeout: number('socket_connect_timeout', 'socketConnectTimeout', 5) || 5,
      keepAlive: number('socket_keepalive', 'socketKeepalive', 10),
      healthCheckInterval: number('health_check_interval', 'healthCheckInterval', 10),
      clientName: typeof clientName === 'string' && clientName !== '' ? clientName : 'celeriac',
      masterName: typeof master === 'string' ? master : undefined,
      sentinelPassword: typeof sentinel?.password === 'string' ? sentinel.password : undefined,
      tls: typeof tls === 'object' && tls !== null ? (tls as Record<string, unknown>) : undefined,
    },
  };
}

export class RedisBackend implements ResultBackend, ChordCounter {
  readonly capabilities: BackendCapabilities = {
    persistent: true,
    shared: true,
    push: true,
    groups: true,
    chords: 'native',
    autoExpire: true,
  };
  readonly url: string;
  readonly chordCounter: ChordCounter = this;
  private readonly target: RedisTarget;
  private readonly options: BackendOptions;
  private readonly logger: Logger;
  private readonly main: RedisConnection;
  private readonly subscriber: RedisConnection;
  private readonly listener: ResultListener;
  /** SETEX seconds, or null for SET (`result_expires` None). */
  private readonly expires: number | null;
  /** States stored in one tick go to Redis in one script call (one round trip, one script run). */
  private readonly writes = new Batcher<ResultMeta>((metas) => this.write(metas));

  constructor(url: string, context: BackendContext) {
    this.url = maskUrl(url);
    this.logger = context.logger;
    this.target = withTls(parseRedisUrl(url, 'backend'), context.tls);
    this.options = readOptions(context.transportOptions);
    this.expires = context.resultExpires === null ? null : Math.max(1, Math.floor(context.resultExpires));
    this.main = new RedisConnection(this.target, 'results', this.options.connection, this.logger, {
      autoPipelining: true,
    });
    this.subscriber = new RedisConnection(this.target, 'results-sub', this.options.connection, this.logger);
    this.listener = new ResultListener(this.subscriber, (ids) => this.readMany(ids), this.logger);
  }

  async connect(): Promise<void> {
    const policy = { retry: true, maxRetries: 20, setting: 'backend' };
    await Promise.all([this.main.connect(policy), this.subscriber.connect(policy)]);
  }

  private get client() {
    return this.main.client;
  }

  store(meta: ResultMeta): Promise<void> {
    return this.writes.add(meta);
  }

  private async write(metas: ResultMeta[]): Promise<void> {
    const expires = this.expires === null ? '' : this.expires;
    for (let i = 0; i < metas.length; i += 500) {
      const chunk = metas.slice(i, i + 500);
      await storeScript.run(
        this.client,
        chunk.map((meta) => TASK_KEY_PREFIX + meta.task_id),
        [expires, ...chunk.map((meta) => encodeJson(meta))],
      );
    }
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const [meta] = await this.readMany([taskId]);
    return meta ?? null;
  }

  private async readMany(taskIds: readonly string[]): Promise<(ResultMeta | null)[]> {
    if (taskIds.length === 0) return [];
    const values = await this.client.mget(...taskIds.map((id) => TASK_KEY_PREFIX + id));
    return values.map((value, i) => {
      if (value === null) return null;
      try {
        return decodeJson(value) as ResultMeta;
      } catch {
        this.logger.warn(`Result of ${taskIds[i]} is not JSON (another serializer?); reported as not stored`);
        return null;
      }
    });
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    return this.listener.waitFor(taskId, options);
  }

  async forget(taskId: string): Promise<void> {
    await this.writes.flush();
    this.listener.forget(taskId);
    await this.client.del(TASK_KEY_PREFIX + taskId);
  }

  private async setValue(key: string, value: string): Promise<void> {
    if (this.expires === null) await this.client.set(key, value);
    else await this.client.setex(key, this.expires, value);
  }

  async saveGroup(groupId: string, meta: GroupMeta): Promise<void> {
    await this.setValue(GROUP_KEY_PREFIX + groupId, encodeJson(meta));
  }

  async getGroup(groupId: string): Promise<GroupMeta | null> {
    const value = await this.client.get(GROUP_KEY_PREFIX + groupId);
    return value === null ? null : (decodeJson(value) as GroupMeta);
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.client.del(GROUP_KEY_PREFIX + groupId);
  }

  // Chord counter (reference §2.7.5, `celery/backends/redis.py:452 on_chord_part_return`).

  private chordKeys(groupId: string): { j: string; t: string; s: string; ids: string } {
    const base = GROUP_KEY_PREFIX + groupId;
    return { j: `${base}.j`, t: `${base}.t`, s: `${base}.s`, ids: `${base}.celeriac.ids` };
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    await this.setValue(this.chordKeys(groupId).s, String(size));
  }

  async addChordPart(groupId: string, part: ChordPart): Promise<ChordProgress> {
    const { j, t, s, ids } = this.chordKeys(groupId);
    // Python's json.dumps formatting, so that the same part recorded by a Python worker is the same member.
    const member = pythonJsonDumps([1, part.taskId, part.state, part.result]);
    const [ready, extra, size] = (await addChordPartScript.run(
      this.client,
      [j, t, s, ids],
      [
        this.options.chordOrdered ? '1' : '0',
        member,
        part.groupIndex === null ? '+inf' : part.groupIndex,
        part.taskId,
        this.expires === null ? '' : this.expires,
      ],
    )) as [number, string | null, string | null];
    return { ready: Number(ready), size: size === null ? null : Number(size), extra: Number(extra ?? 0) };
  }

  async claimChord(groupId: string, when: 'complete' | 'incomplete'): Promise<boolean> {
    const { j, t, s } = this.chordKeys(groupId);
    const ordered = this.options.chordOrdered ? '1' : '0';
    return (await claimChordScript.run(this.client, [j, t, s], [ordered, when])) === 1;
  }

  async chordParts(groupId: string): Promise<[number, string, string, JsonValue][]> {
    const { j } = this.chordKeys(groupId);
    const members = this.options.chordOrdered
      ? await this.client.zrange(j, 0, -1)
      : await this.client.lrange(j, 0, -1);
    return members.map((m) => decodeJson(m) as [number, string, string, JsonValue]);
  }

  async addToChord(groupId: string, count = 1): Promise<void> {
    await this.client.incrby(this.chordKeys(groupId).t, count);
  }

  async deleteChord(groupId: string): Promise<void> {
    const { j, t, s, ids } = this.chordKeys(groupId);
    await this.client.del(j, t, s, ids);
  }

  /** Redis expires results itself (SETEX). */
  async cleanup(): Promise<void> {}

  async close(): Promise<void> {
    await this.writes.flush().catch(() => undefined);
    await Promise.all([this.main.close(), this.subscriber.close()]);
  }
}

export function createRedisBackend(url: string, context: BackendContext): ResultBackend {
  return new RedisBackend(url, context);
}
