/**
 * The shared store in Redis: the broker's Redis (or, under an AMQP broker, the result backend's). Two keys per
 * schedule, named after the app: `celeriac.beat.<app>.lease` and `celeriac.beat.<app>.state`, under the broker's
 * `global_keyprefix`. The lease follows the `SET NX PX` pattern with renewal; state writes are fenced by it
 * (redis-lua.ts).
 */
import { hostname } from 'node:os';
import type { Logger } from '../../lifecycle/logger.js';
import { RedisConnection, type RedisConnectionSettings } from '../../transport/redis/client.js';
import { parseRedisUrl } from '../../transport/redis/url.js';
import { uuid } from '../../protocol/ids.js';
import { acquireScript, fencedWriteScript, releaseScript } from './redis-lua.js';
import { entryJson, parseEntry, type SharedStore, type StoredEntry, type StoredState } from './store.js';

const META = '__meta__';

export interface RedisStoreOptions {
  url: string;
  /** The setting the URL came from, for errors (`broker`, `backend`). */
  setting: string;
  connection: RedisConnectionSettings;
  keyPrefix: string;
  /** The app's name: one schedule per app. */
  schedule: string;
  leaseMs: number;
  logger: Logger;
}

export class RedisStore implements SharedStore {
  readonly description: string;
  readonly holder = `${hostname()}:${process.pid}:${uuid().slice(0, 8)}`;
  private readonly connection: RedisConnection;
  private readonly leaseKey: string;
  private readonly stateKey: string;
  private connected: Promise<void> | undefined;

  constructor(private readonly options: RedisStoreOptions) {
    const target = parseRedisUrl(options.url, options.setting);
    this.description = target.display;
    this.connection = new RedisConnection(target, 'beat', options.connection, options.logger);
    this.leaseKey = `${options.keyPrefix}celeriac.beat.${options.schedule}.lease`;
    this.stateKey = `${options.keyPrefix}celeriac.beat.${options.schedule}.state`;
  }

  private async client() {
    this.connected ??= this.connection.connect({
      retry: true,
      maxRetries: 20,
      setting: this.options.setting,
    });
    await this.connected;
    return this.connection.client;
  }

  async acquire(): Promise<{ acquired: boolean; retryInMs: number }> {
    const reply = (await acquireScript.run(
      await this.client(),
      [this.leaseKey],
      [this.holder, this.options.leaseMs],
    )) as [number, number];
    return { acquired: reply[0] === 1, retryInMs: Math.max(0, reply[1]) };
  }

  async release(): Promise<void> {
    await releaseScript.run(await this.client(), [this.leaseKey], [this.holder]);
  }

  async load(): Promise<StoredState> {
    const hash = await (await this.client()).hgetall(this.stateKey);
    const entries: Record<string, StoredEntry> = {};
    let meta: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(hash)) {
      try {
        const parsed: unknown = JSON.parse(value);
        if (field === META) meta = parsed as Record<string, unknown>;
        else {
          const entry = parseEntry(parsed);
          if (entry) entries[field] = entry;
        }
      } catch {
        this.options.logger.warn(`beat: ignoring an unreadable stored entry ${field} in ${this.stateKey}`);
      }
    }
    return {
      timezone: typeof meta.timezone === 'string' ? meta.timezone : null,
      utcEnabled: typeof meta.utcEnabled === 'boolean' ? meta.utcEnabled : null,
      entries,
    };
  }

  private async write(replace: boolean, fields: string[]): Promise<boolean> {
    const reply = await fencedWriteScript.run(
      await this.client(),
      [this.leaseKey, this.stateKey],
      [this.holder, replace ? '1' : '0', ...fields],
    );
    return reply === 1;
  }

  save(state: StoredState): Promise<boolean> {
    const fields = [META, JSON.stringify({ timezone: state.timezone, utcEnabled: state.utcEnabled })];
    for (const [name, entry] of Object.entries(state.entries))
      fields.push(name, JSON.stringify(entryJson(entry)));
    return this.write(true, fields);
  }

  recordRun(name: string, entry: StoredEntry): Promise<boolean> {
    return this.write(false, [name, JSON.stringify(entryJson(entry))]);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
