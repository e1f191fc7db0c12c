/** Tables of the `sqlite://` broker. `available_at` is when a message may next be delivered: its ETA, or its lease end. */
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
      body BLOB NOT NULL
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
  `);
}
