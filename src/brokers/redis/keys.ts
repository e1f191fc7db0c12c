/**
 * kombu 5.2's Redis key layout (`kombu/transport/redis.py`, reference §2.5.1), computed in one place:
 * queue lists and their priority buckets, `_kombu.binding.<exchange>` sets, the unacked bookkeeping, the fanout
 * channels, all behind `global_keyprefix`. Pure.
 */
import type { RedisBrokerOptions } from './options.js';

export class KeyLayout {
  readonly unacked: string;
  readonly unackedIndex: string;
  readonly unackedMutex: string;
  private readonly fanoutPrefix: string;

  constructor(
    private readonly options: Pick<
      RedisBrokerOptions,
      | 'globalKeyprefix'
      | 'sep'
      | 'prioritySteps'
      | 'unackedKey'
      | 'unackedIndexKey'
      | 'unackedMutexKey'
      | 'fanoutPrefix'
      | 'fanoutPatterns'
    >,
    db: number,
  ) {
    const prefix = options.globalKeyprefix;
    this.unacked = prefix + options.unackedKey;
    this.unackedIndex = prefix + options.unackedIndexKey;
    this.unackedMutex = prefix + options.unackedMutexKey;
    const fanout =
      options.fanoutPrefix === true ? '/{db}.' : options.fanoutPrefix === false ? '' : options.fanoutPrefix;
    this.fanoutPrefix = fanout.replace('{db}', String(db));
  }

  get prioritySteps(): readonly number[] {
    return this.options.prioritySteps;
  }

  /** kombu's `priority()`: the message priority clamped to 0-9 and rounded down to a step (`redis.py:1003`). */
  bucket(priority: unknown): number {
    let p = typeof priority === 'number' && Number.isFinite(priority) ? Math.trunc(priority) : 0;
    p = Math.max(0, Math.min(9, p));
    let step = 0;
    for (const s of this.options.prioritySteps) if (s <= p) step = s;
    return step;
  }

  /** The list holding `queue`'s messages of one bucket: the bare name for 0, `<queue><sep><bucket>` otherwise. */
  queueKey(queue: string, bucket: number): string {
    const name = bucket === 0 ? queue : `${queue}${this.options.sep}${bucket}`;
    return this.options.globalKeyprefix + name;
  }

  /** Every list of a queue, highest priority (bucket 0) first. */
  queueKeys(queue: string): string[] {
    return this.options.prioritySteps.map((step) => this.queueKey(queue, step));
  }

  /** `_kombu.binding.<exchange>`. */
  bindingKey(exchange: string): string {
    return `${this.options.globalKeyprefix}_kombu.binding.${exchange}`;
  }

  /** A binding set member: `<routing key><sep><pattern><sep><queue>` (`_queue_bind`, `redis.py:1026`). */
  bindingMember(routingKey: string, queue: string): string {
    const sep = this.options.sep;
    return `${routingKey}${sep}${sep}${queue}`;
  }

  parseBindingMember(member: string): { routingKey: string; queue: string } | undefined {
    const parts = member.split(this.options.sep);
    if (parts.length !== 3) return undefined;
    return { routingKey: parts[0]!, queue: parts[2]! };
  }

  /** The channel a fanout message is published on (`_get_publish_topic`, `redis.py:860`). */
  publishTopic(exchange: string, routingKey: string): string {
    const base = `${this.options.globalKeyprefix}${this.fanoutPrefix}${exchange}`;
    return routingKey && this.options.fanoutPatterns ? `${base}/${routingKey}` : base;
  }

  /**
   * The patterns a fanout queue subscribes to. kombu subscribes to the binding's topic (`#` read as `*`); a fanout
   * ignores routing keys, so an empty binding key also subscribes to `<exchange>/*` and catches messages that a
   * producer published with a routing key.
   */
  subscribePatterns(exchange: string, bindingKey: string): string[] {
    const key = bindingKey.replace(/#/g, '*');
    if (key !== '' && this.options.fanoutPatterns) return [this.publishTopic(exchange, key)];
    const base = this.publishTopic(exchange, '');
    return this.options.fanoutPatterns ? [base, `${base}/*`] : [base];
  }

  /** The exchange a fanout channel belongs to (the part after the fanout prefix, before any `/routing key`). */
  exchangeOfChannel(channel: string): string {
    const prefix = `${this.options.globalKeyprefix}${this.fanoutPrefix}`;
    const rest = channel.startsWith(prefix) ? channel.slice(prefix.length) : channel;
    const slash = rest.indexOf('/');
    return slash === -1 ? rest : rest.slice(0, slash);
  }

  /** Where rejected messages of a queue are kept, with their reasons (Celeriac's own key; kombu has none). */
  deadLetterKey(queue: string): string {
    return `${this.options.globalKeyprefix}_celeriac.dead.${queue}`;
  }

  /** Bytes held in a queue's dead letters (kept beside the list, so that the byte cap costs no scan). */
  deadLetterBytesKey(queue: string): string {
    return `${this.deadLetterKey(queue)}.bytes`;
  }

  /** The queue name of a list key (the prefix and any bucket suffix removed). */
  queueOfKey(key: string): string {
    const bare = key.slice(this.options.globalKeyprefix.length);
    const sep = bare.lastIndexOf(this.options.sep);
    return sep === -1 ? bare : bare.slice(0, sep);
  }
}
