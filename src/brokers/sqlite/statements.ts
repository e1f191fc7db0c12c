/** The prepared statements of the `sqlite://` broker, in one place (tables in schema.ts). */
import type Database from 'better-sqlite3';
import type { SqliteDatabase } from '../../transport/sqlite/file.js';

export interface Row {
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
  published_at: number;
}

type Statement = Database.Statement<unknown[]>;

type StatementName =
  | 'insert'
  | 'reinsert'
  | 'lease'
  | 'ack'
  | 'release'
  | 'releaseOwner'
  | 'renew'
  | 'owners'
  | 'get'
  | 'holds'
  | 'remove'
  | 'deadLetter'
  | 'bind'
  | 'bindings'
  | 'exchangeType'
  | 'declareExchange'
  | 'purge'
  | 'size';

export type Statements = Readonly<Record<StatementName, Statement>>;

export function prepareStatements(db: SqliteDatabase): Statements {
  return {
    insert: db.prepare(
      `INSERT INTO celeriac_messages (queue, priority, available_at, exchange, routing_key, headers, properties,
         content_type, content_encoding, body, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    reinsert: db.prepare(
      `INSERT INTO celeriac_messages (queue, priority, available_at, exchange, routing_key, headers, properties,
         content_type, content_encoding, body, published_at, redelivered) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
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
    holds: db.prepare('SELECT 1 FROM celeriac_messages WHERE id = ? AND lease_token = ?'),
    remove: db.prepare('DELETE FROM celeriac_messages WHERE id = ?'),
    deadLetter: db.prepare(
      `INSERT INTO celeriac_dead_letters (queue, reason, created_at, headers, properties, content_type,
         content_encoding, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    bind: db.prepare(
      'INSERT OR IGNORE INTO celeriac_bindings (exchange, type, routing_key, queue) VALUES (?, ?, ?, ?)',
    ),
    // An exchange declared with declareExchange routes by that type; otherwise by the type its bindings were made with.
    bindings: db.prepare(
      `SELECT COALESCE(e.type, b.type) AS type, b.routing_key AS routingKey, b.queue AS queue
         FROM celeriac_bindings b LEFT JOIN celeriac_exchanges e ON e.name = b.exchange WHERE b.exchange = ?`,
    ),
    exchangeType: db.prepare('SELECT type FROM celeriac_exchanges WHERE name = ?'),
    declareExchange: db.prepare('INSERT OR IGNORE INTO celeriac_exchanges (name, type) VALUES (?, ?)'),
    purge: db.prepare('DELETE FROM celeriac_messages WHERE queue = ? AND lease_token IS NULL'),
    size: db.prepare('SELECT COUNT(*) AS n FROM celeriac_messages WHERE queue = ? AND lease_token IS NULL'),
  };
}
