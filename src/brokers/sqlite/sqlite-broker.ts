/**
 * `sqlite://PATH`: the embedded default broker. Durable, shared by several processes on one machine, with leases:
 * a fetch moves messages into a lease owned by this broker instance (one transaction), a live consumer renews its
 * leases, and leases of a process that died come back within a second (same host, dead pid: checked from the
 * fetch loop) or when they expire.
 * Acks are fenced by a per-delivery token, so a stale consumer cannot delete a message another consumer now holds;
 * the lease keeper tells the consumer about deliveries it lost that way (`onLost`).
 *
 * Exchanges are emulated with kombu's semantics (exchange.ts) over `celeriac_bindings`; queues with a TTL, an
 * expiry or an auto-deleting subscriber have a row in `celeriac_queues` (queues.ts). Subscriptions are consumers
 * that delete each message as they take it.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { ConnectionError } from '../../errors.js';
import { openSqlite, sqlitePath, type SqliteDatabase } from '../../transport/sqlite/file.js';
import { uuid } from '../../protocol/ids.js';
import type { WireMessage } from '../../protocol/message.js';
import type { JsonValue } from '../../types.js';
import {
  publishEach,
  type Broker,
  type BrokerCapabilities,
  type BrokerContext,
  type ConsumeOptions,
  type Consumer,
  type Delivery,
  type DeliveryHandler,
  type ExchangeSpec,
  type ExchangeType,
  type PublishItem,
  type PublishOptions,
  type QueueSpec,
  type RejectOptions,
  type Route,
  type Subscription,
  type SubscriptionHandler,
  type Subscriptions,
  type SubscriptionSpec,
} from '../broker.js';
import { inequivalentExchange, routeToQueues, subscriptionQueue } from '../exchange.js';
import { SqliteConsumer, type SqliteConsumerHost } from './consumer.js';
import { QueueLifetimes } from './queues.js';
import { migrateBrokerSchema } from './schema.js';
import { prepareStatements, type Row, type Statements } from './statements.js';

/** How often (at most) the fetch loop looks for leases held by processes that died on this host. */
export const DEAD_OWNER_CHECK_MS = 1000;
export const sqliteCapabilities: BrokerCapabilities = {
  fanout: true,
  topic: true,
  priority: 'native',
  delayedDelivery: true,
  consume: true,
  redeliversOnConsumerLoss: true,
  losesDeliveries: true,
  durable: true,
  shared: true,
  deadLetter: true,
  broadcast: 'queue',
  queueExpiry: true,
};

/** Wakes consumers in this process as soon as a producer in this process publishes to the same file. */
const publishedInProcess = new EventEmitter();
publishedInProcess.setMaxListeners(0);

interface SqliteOptions {
  /** Lease length in seconds (kombu's `visibility_timeout`); a live consumer renews it at a third of this. */
  visibilityTimeout: number;
  /** Longest wait between polls for new messages, in seconds (kombu's `polling_interval`). */
  pollingInterval: number;
}

function readOptions(transportOptions: Readonly<Record<string, unknown>>): SqliteOptions {
  const number = (key: string, camel: string, fallback: number): number => {
    const value = transportOptions[camel] ?? transportOptions[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !(value > 0)) {
      throw new ConnectionError(
        `broker transport option ${camel} must be a positive number of seconds, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  return {
    visibilityTimeout: number('visibility_timeout', 'visibilityTimeout', 30),
    pollingInterval: number('polling_interval', 'pollingInterval', 0.05),
  };
}

export class SqliteBroker implements Broker, SqliteConsumerHost, Subscriptions {
  readonly capabilities = sqliteCapabilities;
  readonly subscriptions: Subscriptions = this;
  readonly deferral = null;
  readonly options: SqliteOptions;
  readonly logger: BrokerContext['logger'];
  private db: SqliteDatabase | undefined;
  private readonly path: string;
  /** Lease owner id: host, pid and a nonce, so a same-host sweeper can tell a dead owner from a live one. */
  private readonly owner = `${hostname()}/${process.pid}/${uuid().slice(0, 8)}`;
  /** When the fetch loop last looked for leases held by dead processes. */
  private deadOwnersCheckedAt = 0;
  private readonly consumers = new Set<SqliteConsumer>();
  private readonly heldBy = new Map<string, { consumer: SqliteConsumer; delivery: Delivery }>();
  private readonly subscribed = new Set<Subscription>();
  private leaseTimer: NodeJS.Timeout | undefined;
  /** Touches the queues with an expiry that this broker consumes, more often than they would expire. */
  private queueTimer: { timer: NodeJS.Timeout; everyMs: number } | undefined;
  private lastSweep = 0;
  private readonly onPublished = (): void => {
    for (const consumer of this.consumers) consumer.poke();
  };
  private statements: Statements | undefined;
  private lifetimes: QueueLifetimes | undefined;

  constructor(
    readonly url: string,
    context: BrokerContext,
  ) {
    this.path = sqlitePath(url, 'broker');
    this.options = readOptions(context.transportOptions);
    this.logger = context.logger;
  }

  get pollMs(): number {
    return this.options.pollingInterval * 1000;
  }

  async connect(): Promise<void> {
    if (this.db) return;
    const db = openSqlite(this.url, 'broker');
    migrateBrokerSchema(db);
    this.db = db;
    this.statements = prepareStatements(db);
    this.lifetimes = new QueueLifetimes(db, isAlive);
    publishedInProcess.on(this.path, this.onPublished);
  }

  private get stmts(): Statements {
    if (!this.statements)
      throw new ConnectionError(`broker ${this.url} is not connected (call connect() first)`);
    return this.statements;
  }

  private get queues(): QueueLifetimes {
    if (!this.lifetimes)
      throw new ConnectionError(`broker ${this.url} is not connected (call connect() first)`);
    return this.lifetimes;
  }

  async declare(queues: readonly QueueSpec[]): Promise<void> {
    this.declareAs(queues, null);
  }

  private declareAs(queues: readonly QueueSpec[], owner: string | null): void {
    const stmts = this.stmts;
    this.sweep();
    for (const spec of queues) {
      this.queues.declare(spec, owner);
      const exchange = spec.exchange ?? spec.name;
      if (exchange === '') continue;
      stmts.bind.run(exchange, spec.exchangeType ?? 'direct', spec.routingKey ?? spec.name, spec.name);
    }
  }

  async declareExchange(exchange: ExchangeSpec): Promise<void> {
    const stmts = this.stmts;
    stmts.declareExchange.run(exchange.name, exchange.type);
    const { type } = stmts.exchangeType.get(exchange.name) as { type: string };
    if (type !== exchange.type) throw inequivalentExchange(exchange, type);
  }

  private queuesFor(route: Route): string[] {
    if (route.exchange === '') return [route.routingKey];
    // Publishing to an exchange is where queues of dead receivers would keep growing: sweep now and then.
    if (Date.now() - this.lastSweep > 1000) this.sweep();
    const rows = this.stmts.bindings.all(route.exchange) as {
      type: ExchangeType;
      routingKey: string;
      queue: string;
    }[];
    if (rows.length === 0) return [];
    return routeToQueues(rows[0]!.type, rows, route.routingKey);
  }

  async publish(message: WireMessage, route: Route, options?: PublishOptions): Promise<void> {
    const stmts = this.stmts;
    const priority = typeof message.properties.priority === 'number' ? message.properties.priority : 0;
    const headers = JSON.stringify(message.headers);
    const properties = JSON.stringify(message.properties);
    const availableAt = options?.notBefore ?? 0;
    const now = Date.now();
    for (const queue of this.queuesFor(route)) {
      stmts.insert.run(
        queue,
        priority,
        availableAt,
        route.exchange,
        route.routingKey,
        headers,
        properties,
        message.contentType,
        message.contentEncoding,
        message.body,
        now,
      );
    }
    publishedInProcess.emit(this.path);
  }

  publishMany(items: readonly PublishItem[]): Promise<void> {
    return publishEach(this, items);
  }

  async consume(
    queues: readonly QueueSpec[],
    handler: DeliveryHandler,
    options: ConsumeOptions,
  ): Promise<Consumer> {
    await this.declare(queues);
    return this.startConsumer(queues, handler, options.prefetch, false, options.onLost);
  }

  private startConsumer(
    queues: readonly QueueSpec[],
    handler: DeliveryHandler,
    prefetch: number,
    noAck: boolean,
    onLost?: (deliveries: readonly Delivery[]) => void,
  ): SqliteConsumer {
    this.releaseDeadOwners();
    const names = queues.map((q) => q.name);
    const ttls = this.queues.ttls(names);
    const consumer = new SqliteConsumer(names, handler, prefetch, this, ttls, noAck, onLost);
    this.consumers.add(consumer);
    if (!noAck) this.startLeaseKeeper();
    const expiry = this.queues.shortestExpiry(names);
    if (expiry !== undefined) this.keepQueues(expiry);
    consumer.start();
    return consumer;
  }

  async subscribe(spec: SubscriptionSpec, handler: SubscriptionHandler): Promise<Subscription> {
    await this.declareExchange(spec.exchange);
    const queue = subscriptionQueue(spec);
    this.declareAs([queue], this.owner);
    const consumer = this.startConsumer([queue], (delivery) => handler(delivery), 0, true);
    const subscription: Subscription = {
      queue: spec.queue,
      cancel: async () => {
        if (!this.subscribed.delete(subscription)) return;
        await consumer.cancel();
        if (this.db) this.queues.deleteQueue(spec.queue);
      },
    };
    this.subscribed.add(subscription);
    return subscription;
  }

  /** Leases (or, for subscriptions, takes) up to `limit` ready messages in one transaction and hands them over. */
  fetchFor(consumer: SqliteConsumer, limit: number): number {
    const db = this.db;
    if (!db) return 0;
    const now = Date.now();
    // Leases of processes that died on this host come back within a second, whatever the visibility timeout:
    // checked from the fetch loop, at most once a second (one indexed query, and a kill(pid, 0) per owner).
    if (now - this.deadOwnersCheckedAt >= DEAD_OWNER_CHECK_MS) {
      this.deadOwnersCheckedAt = now;
      this.releaseDeadOwners();
    }
    const leaseUntil = now + this.options.visibilityTimeout * 1000;
    const select = this.selectFor(consumer.queues);
    const stmts = this.stmts;
    const leased = db
      .transaction(() => {
        if (consumer.ttls.size > 0) this.queues.dropExpiredMessages(consumer.ttls);
        const rows = select.all([...consumer.queues, now, limit]) as Row[];
        return rows.map((row) => {
          const token = uuid();
          if (consumer.noAck) stmts.remove.run(row.id);
          else stmts.lease.run(leaseUntil, this.owner, token, row.id);
          return { row, token };
        });
      })
      .immediate();
    for (const { row, token } of leased) this.handOver(consumer, toDelivery(row, token));
    return leased.length;
  }

  private handOver(consumer: SqliteConsumer, delivery: Delivery): void {
    if (!consumer.noAck) {
      consumer.held++;
      this.heldBy.set(delivery.tag, { consumer, delivery });
    }
    try {
      consumer.handler(delivery);
    } catch (error) {
      this.logger.error({ err: error }, 'sqlite broker: delivery handler threw');
    }
  }

  private readonly selects = new Map<string, ReturnType<SqliteDatabase['prepare']>>();

  private selectFor(queues: readonly string[]): ReturnType<SqliteDatabase['prepare']> {
    const key = queues.join('\u0000');
    let select = this.selects.get(key);
    if (!select) {
      const placeholders = queues.map(() => '?').join(', ');
      select = this.db!.prepare(
        `SELECT * FROM celeriac_messages WHERE queue IN (${placeholders}) AND available_at <= ?
           ORDER BY priority DESC, id LIMIT ?`,
      );
      this.selects.set(key, select);
    }
    return select;
  }

  private settled(tag: string): void {
    const consumer = this.heldBy.get(tag)?.consumer;
    if (!consumer) return;
    this.heldBy.delete(tag);
    consumer.held--;
    consumer.poke();
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    const db = this.db;
    if (!db) throw new ConnectionError(`broker ${this.url} is closed; cannot acknowledge`);
    const stmts = this.stmts;
    db.transaction(() => {
      for (const delivery of deliveries) {
        const [id, token] = parseTag(delivery.tag);
        const result = stmts.ack.run(id, token);
        if (result.changes === 0) {
          this.logger.warn(
            `sqlite broker: ack of ${delivery.tag} ignored: its lease expired and it was redelivered`,
          );
        }
      }
    })();
    for (const delivery of deliveries) this.settled(delivery.tag);
  }

  async reject(delivery: Delivery, options: RejectOptions): Promise<void> {
    const db = this.db;
    if (!db) throw new ConnectionError(`broker ${this.url} is closed; cannot reject`);
    const stmts = this.stmts;
    const [id, token] = parseTag(delivery.tag);
    db.transaction(() => {
      const row = stmts.get.get(id, token) as Row | undefined;
      if (!row) return;
      stmts.remove.run(id);
      if (options.requeue) {
        // kombu's reject(requeue=True) puts the message at the back of its queue.
        stmts.reinsert.run(
          row.queue,
          row.priority,
          row.exchange,
          row.routing_key,
          row.headers,
          row.properties,
          row.content_type,
          row.content_encoding,
          row.body,
          row.published_at,
        );
      } else {
        stmts.deadLetter.run(
          row.queue,
          options.reason ?? 'rejected',
          Date.now(),
          row.headers,
          row.properties,
          row.content_type,
          row.content_encoding,
          row.body,
        );
      }
    }).immediate();
    this.settled(delivery.tag);
  }

  async requeue(deliveries: readonly Delivery[]): Promise<void> {
    const db = this.db;
    if (!db) return;
    const stmts = this.stmts;
    db.transaction(() => {
      for (const delivery of deliveries) {
        const [id, token] = parseTag(delivery.tag);
        stmts.release.run(id, token);
      }
    })();
    for (const delivery of deliveries) this.settled(delivery.tag);
    publishedInProcess.emit(this.path);
  }

  async purge(queue: string): Promise<number> {
    this.sweep();
    return this.stmts.purge.run(queue).changes;
  }

  async size(queue: string): Promise<number> {
    this.sweep();
    this.queues.freshen(queue);
    return (this.stmts.size.get(queue) as { n: number }).n;
  }

  /** Messages rejected without requeue, newest last. */
  deadLetters(queue?: string): { queue: string; reason: string; headers: Record<string, JsonValue> }[] {
    const rows = this.db!.prepare(
      `SELECT queue, reason, headers FROM celeriac_dead_letters ${queue ? 'WHERE queue = ?' : ''} ORDER BY id`,
    ).all(...(queue ? [queue] : [])) as { queue: string; reason: string; headers: string }[];
    return rows.map((r) => ({
      queue: r.queue,
      reason: r.reason,
      headers: JSON.parse(r.headers) as Record<string, JsonValue>,
    }));
  }

  forget(consumer: SqliteConsumer): void {
    this.consumers.delete(consumer);
  }

  private startLeaseKeeper(): void {
    if (this.leaseTimer) return;
    const everyMs = (this.options.visibilityTimeout * 1000) / 3;
    this.leaseTimer = setInterval(() => {
      try {
        this.renewLeases();
        this.releaseDeadOwners();
        this.sweep();
      } catch (error) {
        this.logger.error({ err: error }, `sqlite broker: lease renewal failed: ${(error as Error).message}`);
      }
    }, everyMs);
    this.leaseTimer.unref();
  }

  /**
   * Renews this broker's leases now (normally done on a timer), and tells consumers about held deliveries whose
   * lease another consumer took meanwhile (this process was stopped longer than the visibility timeout, or
   * released as dead): they must not run here, and settling them does nothing.
   */
  renewLeases(): void {
    const stmts = this.stmts;
    stmts.renew.run(Date.now() + this.options.visibilityTimeout * 1000, this.owner);
    const lost = new Map<SqliteConsumer, Delivery[]>();
    for (const [tag, { consumer, delivery }] of this.heldBy) {
      const [id, token] = parseTag(tag);
      if (stmts.holds.get(id, token)) continue;
      this.settled(tag);
      lost.set(consumer, [...(lost.get(consumer) ?? []), delivery]);
    }
    for (const [consumer, deliveries] of lost) {
      this.logger.warn(
        `sqlite broker: lost the lease of ${deliveries.length} delivery(ies) from ${consumer.queues.join(', ')}: ` +
          'another consumer took them (this process was stopped longer than the visibility timeout)',
      );
      try {
        consumer.onLost?.(deliveries);
      } catch (error) {
        this.logger.error({ err: error }, `sqlite broker: onLost handler threw: ${(error as Error).message}`);
      }
    }
  }

  /** Keeps the expiring queues this broker consumes alive (and sweeps), more often than the shortest expiry. */
  private keepQueues(expiresMs: number): void {
    const everyMs = Math.max(50, Math.min(expiresMs / 3, (this.options.visibilityTimeout * 1000) / 3));
    if (this.queueTimer && this.queueTimer.everyMs <= everyMs) return;
    clearInterval(this.queueTimer?.timer);
    const timer = setInterval(() => {
      try {
        this.queues.touch(new Set([...this.consumers].flatMap((c) => c.queues)));
        this.sweep();
      } catch (error) {
        this.logger.error({ err: error }, `sqlite broker: queue upkeep failed: ${(error as Error).message}`);
      }
    }, everyMs);
    timer.unref();
    this.queueTimer = { timer, everyMs };
  }

  /** Deletes queues past their expiry and auto-deleting queues of dead processes. */
  private sweep(): void {
    this.lastSweep = Date.now();
    const gone = this.queues.sweep();
    if (gone.length > 0) this.logger.debug(`sqlite broker: deleted expired queue(s) ${gone.join(', ')}`);
  }

  /** Gives back, at once, messages leased by processes on this host that no longer exist. */
  private releaseDeadOwners(): void {
    const host = hostname();
    for (const { lease_owner: owner } of this.stmts.owners.all() as { lease_owner: string }[]) {
      const [ownerHost, pid] = owner.split('/');
      if (ownerHost !== host || Number(pid) === process.pid || !pid) continue;
      if (isAlive(Number(pid))) continue;
      const released = this.stmts.releaseOwner.run(owner).changes;
      if (released > 0) {
        this.logger.warn(
          `sqlite broker: restored ${released} unacknowledged message(s) of dead process ${pid}`,
        );
        publishedInProcess.emit(this.path);
      }
    }
  }

  async close(): Promise<void> {
    const db = this.db;
    if (!db) return;
    await Promise.all([...this.subscribed].map((s) => s.cancel()));
    await Promise.all([...this.consumers].map((c) => c.cancel()));
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
    clearInterval(this.queueTimer?.timer);
    this.queueTimer = undefined;
    this.stmts.releaseOwner.run(this.owner);
    this.heldBy.clear();
    publishedInProcess.off(this.path, this.onPublished);
    publishedInProcess.emit(this.path);
    this.statements = undefined;
    this.lifetimes = undefined;
    this.selects.clear();
    this.db = undefined;
    db.close();
  }
}

function parseTag(tag: string): [number, string] {
  const colon = tag.indexOf(':');
  return [Number(tag.slice(0, colon)), tag.slice(colon + 1)];
}

function toDelivery(row: Row, token: string): Delivery {
  return {
    message: {
      headers: JSON.parse(row.headers) as Record<string, JsonValue>,
      properties: JSON.parse(row.properties) as Record<string, JsonValue>,
      contentType: row.content_type,
      contentEncoding: row.content_encoding,
      body: row.body,
    },
    queue: row.queue,
    tag: `${row.id}:${token}`,
    exchange: row.exchange,
    routingKey: row.routing_key,
    redelivered: row.redelivered === 1 || row.lease_owner !== null,
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function createSqliteBroker(url: string, context: BrokerContext): Broker {
  return new SqliteBroker(url, context);
}
