/**
 * Tables of the `sqlite://` broker. `available_at` is when a message may next be delivered: its ETA, or its lease
 * end; `published_at` is when it was published (for queues with a message TTL). `celeriac_exchanges` keeps the
 * types given to `declareExchange`; `celeriac_queues` the TTL, expiry and owner of queues declared with them
 * (subscriptions, `QueueSpec.messageTtlMs` / `expiresMs`).
 */
import type { SqliteDatabase } from '../../transport/sqlite/file.js';

export function migrateBrokerSchema(db: SqliteDatabase): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS celeriac_messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      queue TEXT NOT NULL,
      priority INTEGER NOT NULL DEFAULT 0,
      available_at INTEGER NOT NULL,
      lease_owner TEXT,
      lease_token TEXT,
      redelivered INTEGER NOT NULL DEFAULT 0,
      exchange TEXT NOT NULL,
      routing_key TEXT NOT NULL,
      headers TEXT NOT NULL,
      properties TEXT NOT NULL,
      content_type TEXT NOT NULL,
      content_encoding TEXT NOT NULL,
      body BLOB NOT NULL,
      published_at INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS celeriac_messages_ready ON celeriac_messages (queue, priority DESC, id);
    CREATE INDEX IF NOT EXISTS celeriac_messages_owner ON celeriac_messages (lease_owner);
    CREATE TABLE IF NOT EXISTS celeriac_bindings (
      exchange TEXT NOT NULL,
      type TEXT NOT NULL,
      routing_key TEXT NOT NULL,
      queue TEXT NOT NULL,
      PRIMARY KEY (exchange, routing_key, queue)
    );
    CREATE TABLE IF NOT EXISTS celeriac_dead_letters (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      queue TEXT NOT NULL,
      reason TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      headers TEXT NOT NULL,
      properties TEXT NOT NULL,
      content_type TEXT NOT NULL,
      content_encoding TEXT NOT NULL,
      body BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS celeriac_exchanges (
      name TEXT PRIMARY KEY,
      type TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS celeriac_queues (
      name TEXT PRIMARY KEY,
      message_ttl_ms INTEGER,
      expires_ms INTEGER,
      used_at INTEGER NOT NULL,
      owner TEXT
    );
  `);
  // Files written by earlier versions lack the publication time; their messages count as published at 0.
  const columns = db.prepare('PRAGMA table_info(celeriac_messages)').all() as { name: string }[];
  if (!columns.some((c) => c.name === 'published_at')) {
    try {
      db.exec('ALTER TABLE celeriac_messages ADD COLUMN published_at INTEGER NOT NULL DEFAULT 0');
    } catch (error) {
      // Another process added it first.
      if (!/duplicate column/i.test((error as Error).message)) throw error;
    }
  }
}
