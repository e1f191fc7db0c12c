/**
 * `sqlite://PATH`: the embedded default broker. Durable, shared by several processes on one machine, with leases:
 * a fetch moves messages into a lease owned by this broker instance (one transaction), a live consumer renews its
 * leases, and leases of a process that died come back at once (same host, dead pid) or when they expire.
 * Acks are fenced by a per-delivery token, so a stale consumer cannot delete a message another consumer now holds.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { ConnectionError } from '../../errors.js';
import { openSqlite, sqlitePath, type SqliteDatabase } from '../../transport/sqlite/file.js';
import { uuid } from '../../protocol/ids.js';
import type { WireMessage } from '../../protocol/message.js';
import type { JsonValue } from '../../types.js';
import type {
  Broker,
  BrokerCapabilities,
  BrokerContext,
  ConsumeOptions,
  Consumer,
  Delivery,
  DeliveryHandler,
  ExchangeType,
  PublishOptions,
  QueueSpec,
  RejectOptions,
  Route,
} from '../broker.js';
import { routeToQueues } from '../exchange.js';
import { migrateBrokerSchema } from './schema.js';

export const sqliteCapabilities: BrokerCapabilities = {
  fanout: true,
  topic: true,
  priority: 'native',
  delayedDelivery: true,
  redeliversOnConsumerLoss: true,
  durable: true,
  shared: true,
  deadLetter: true,
};

interface Row {
  id: number;
  queue: string;
  priority: number;
  lease_owner: string | null;
  redelivered: number;
  exchange: string;
  routing_key: string;
  headers: string;
  properties: string;
  content_type: string;
  content_encoding: string;
  body: Buffer;
}

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

class SqliteConsumer implements Consumer {
  readonly abort = new AbortController();
  held = 0;
  loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(
    readonly queues: readonly string[],
    readonly handler: DeliveryHandler,
    public prefetch: number,
    private readonly broker: SqliteBroker,
  ) {}

  get credit(): number {
    return this.prefetch === 0 ? 256 : Math.max(0, this.prefetch - this.held);
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = prefetch;
    this.poke();
  }

  poke(): void {
    this.wake?.();
  }

  async cancel(): Promise<void> {
    this.abort.abort();
    this.poke();
    await this.loop;
    this.broker.forget(this);
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const pollMs = this.broker.options.pollingInterval * 1000;
    while (!signal.aborted) {
      const credit = this.credit;
      let fetched = 0;
      if (credit > 0) {
        try {
          fetched = this.broker.fetchFor(this, Math.min(credit, 256));
        } catch (error) {
          this.broker.logger.error(
            { err: error },
            `sqlite broker: fetch failed: ${(error as Error).message}`,
          );
        }
      }
      if (fetched > 0 && fetched === Math.min(credit, 256)) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollMs);
        function done(): void {
          clearTimeout(timer);
          // One listener per wait would pile up on the signal for the consumer's lifetime.
          signal.removeEventListener('abort', done);
          resolve();
        }
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
      this.wake = undefined;
    }
  }
}

export class SqliteBroker implements Broker {
  readonly capabilities = sqliteCapabilities;
  readonly options: SqliteOptions;
  readonly logger: BrokerContext['logger'];
  private db: SqliteDatabase | undefined;
  private readonly path: string;
  /** Lease owner id: host, pid and a nonce, so a same-host sweeper can tell a dead owner from a live one. */
  private readonly owner = `${hostname()}/${process.pid}/${uuid().slice(0, 8)}`;
  private readonly consumers = new Set<SqliteConsumer>();
  private readonly heldBy = new Map<string, SqliteConsumer>();
  private leaseTimer: NodeJS.Timeout | undefined;
  private readonly onPublished = (): void => {
    for (const consumer of this.consumers) consumer.poke();
  };
  private statements: ReturnType<SqliteBroker['prepare']> | undefined;

  constructor(
    readonly url: string,
    context: BrokerContext,
  ) {
    this.path = sqlitePath(url, 'broker');
    this.options = readOptions(context.transportOptions);
    this.logger = context.logger;
  }

  async connect(): Promise<void> {
    if (this.db) return;
    const db = openSqlite(this.url, 'broker');
    migrateBrokerSchema(db);
    this.db = db;
    this.statements = this.prepare(db);
    publishedInProcess.on(this.path, this.onPublished);
  }

  private prepare(db: SqliteDatabase) {
    return {
      insert: db.prepare(
        `INSERT INTO celeriac_messages (queue, priority, available_at, exchange, routing_key, headers, properties,
           content_type, content_encoding, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      reinsert: db.prepare(
        `INSERT INTO celeriac_messages (queue, priority, available_at, exchange, routing_key, headers, properties,
           content_type, content_encoding, body, redelivered) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, 1)`,
      ),
      lease: db.prepare(
        `UPDATE celeriac_messages SET available_at = ?, lease_owner = ?, lease_token = ?,
           redelivered = CASE WHEN lease_owner IS NULL THEN redelivered ELSE 1 END WHERE id = ?`,
      ),
      ack: db.prepare('DELETE FROM celeriac_messages WHERE id = ? AND lease_token = ?'),
      release: db.prepare(
        `UPDATE celeriac_messages SET available_at = 0, lease_owner = NULL, lease_token = NULL, redelivered = 1
           WHERE id = ? AND lease_token = ?`,
      ),
      releaseOwner: db.prepare(
        `UPDATE celeriac_messages SET available_at = 0, lease_owner = NULL, lease_token = NULL, redelivered = 1
           WHERE lease_owner = ?`,
      ),
      renew: db.prepare('UPDATE celeriac_messages SET available_at = ? WHERE lease_owner = ?'),
      owners: db.prepare('SELECT DISTINCT lease_owner FROM celeriac_messages WHERE lease_owner IS NOT NULL'),
      get: db.prepare('SELECT * FROM celeriac_messages WHERE id = ? AND lease_token = ?'),
      remove: db.prepare('DELETE FROM celeriac_messages WHERE id = ?'),
      deadLetter: db.prepare(
        `INSERT INTO celeriac_dead_letters (queue, reason, created_at, headers, properties, content_type,
           content_encoding, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      bind: db.prepare(
        'INSERT OR IGNORE INTO celeriac_bindings (exchange, type, routing_key, queue) VALUES (?, ?, ?, ?)',
      ),
      bindings: db.prepare(
        'SELECT type, routing_key AS routingKey, queue FROM celeriac_bindings WHERE exchange = ?',
      ),
      purge: db.prepare('DELETE FROM celeriac_messages WHERE queue = ? AND lease_token IS NULL'),
      size: db.prepare('SELECT COUNT(*) AS n FROM celeriac_messages WHERE queue = ? AND lease_token IS NULL'),
    };
  }

  private get stmts(): NonNullable<SqliteBroker['statements']> {
    if (!this.statements)
      throw new ConnectionError(`broker ${this.url} is not connected (call connect() first)`);
    return this.statements;
  }

  async declare(queues: readonly QueueSpec[]): Promise<void> {
    const stmts = this.stmts;
    for (const spec of queues) {
      const exchange = spec.exchange ?? spec.name;
      if (exchange === '') continue;
      stmts.bind.run(exchange, spec.exchangeType ?? 'direct', spec.routingKey ?? spec.name, spec.name);
    }
  }

  private queuesFor(route: Route): string[] {
    if (route.exchange === '') return [route.routingKey];
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
      );
    }
    publishedInProcess.emit(this.path);
  }

  async consume(
    queues: readonly QueueSpec[],
    handler: DeliveryHandler,
    options: ConsumeOptions,
  ): Promise<Consumer> {
    await this.declare(queues);
    this.releaseDeadOwners();
    const consumer = new SqliteConsumer(
      queues.map((q) => q.name),
      handler,
      options.prefetch,
      this,
    );
    this.consumers.add(consumer);
    this.startLeaseKeeper();
    consumer.start();
    return consumer;
  }

  /** Leases up to `limit` ready messages for `consumer` in one transaction and hands them over. */
  fetchFor(consumer: SqliteConsumer, limit: number): number {
    const db = this.db;
    if (!db) return 0;
    const now = Date.now();
    const leaseUntil = now + this.options.visibilityTimeout * 1000;
    const select = this.selectFor(consumer.queues);
    const stmts = this.stmts;
    const leased = db
      .transaction(() => {
        const rows = select.all([...consumer.queues, now, limit]) as Row[];
        return rows.map((row) => {
          const token = uuid();
          stmts.lease.run(leaseUntil, this.owner, token, row.id);
          return { row, token };
        });
      })
      .immediate();
    for (const { row, token } of leased) {
      const delivery: Delivery = {
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
      consumer.held++;
      this.heldBy.set(delivery.tag, consumer);
      try {
        consumer.handler(delivery);
      } catch (error) {
        this.logger.error({ err: error }, 'sqlite broker: delivery handler threw');
      }
    }
    return leased.length;
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
    const consumer = this.heldBy.get(tag);
    if (!consumer) return;
    this.heldBy.delete(tag);
    consumer.held--;
    consumer.poke();
  }

  private static parseTag(tag: string): [number, string] {
    const colon = tag.indexOf(':');
    return [Number(tag.slice(0, colon)), tag.slice(colon + 1)];
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    const db = this.db;
    if (!db) throw new ConnectionError(`broker ${this.url} is closed; cannot acknowledge`);
    const stmts = this.stmts;
    db.transaction(() => {
      for (const delivery of deliveries) {
        const [id, token] = SqliteBroker.parseTag(delivery.tag);
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
    const [id, token] = SqliteBroker.parseTag(delivery.tag);
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
        const [id, token] = SqliteBroker.parseTag(delivery.tag);
        stmts.release.run(id, token);
      }
    })();
    for (const delivery of deliveries) this.settled(delivery.tag);
    publishedInProcess.emit(this.path);
  }

  async purge(queue: string): Promise<number> {
    return this.stmts.purge.run(queue).changes;
  }

  async size(queue: string): Promise<number> {
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
        this.stmts.renew.run(Date.now() + this.options.visibilityTimeout * 1000, this.owner);
        this.releaseDeadOwners();
      } catch (error) {
        this.logger.error({ err: error }, `sqlite broker: lease renewal failed: ${(error as Error).message}`);
      }
    }, everyMs);
    this.leaseTimer.unref();
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
    await Promise.all([...this.consumers].map((c) => c.cancel()));
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
    this.stmts.releaseOwner.run(this.owner);
    this.heldBy.clear();
    publishedInProcess.off(this.path, this.onPublished);
    publishedInProcess.emit(this.path);
    this.statements = undefined;
    this.selects.clear();
    this.db = undefined;
    db.close();
  }
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
