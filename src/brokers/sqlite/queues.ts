/**
 * Queues with a lifetime, for the `sqlite://` broker: the message TTL and expiry of `QueueSpec.messageTtlMs` /
 * `expiresMs` (RabbitMQ's `x-message-ttl` and `x-expires`), and auto-deleting subscription queues. A queue's row in
 * `celeriac_queues` says when it was last used (declared, or consumed by a live consumer, which touches it every
 * third of its expiry) and which broker instance owns it when it auto-deletes. `sweep()` deletes, with their
 * messages and bindings, the queues unused for longer than their expiry and the auto-deleting queues of processes
 * on this host that no longer exist; it runs on the brokers' timers and before sizes are read.
 */
import { hostname } from 'node:os';
import type { SqliteDatabase } from '../../transport/sqlite/file.js';
import type { QueueSpec } from '../broker.js';

interface QueueRow {
  name: string;
  message_ttl_ms: number | null;
  expires_ms: number | null;
  used_at: number;
  owner: string | null;
}

export class QueueLifetimes {
  private readonly stmts;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly isAlive: (pid: number) => boolean,
  ) {
    this.stmts = {
      upsert: db.prepare(
        `INSERT INTO celeriac_queues (name, message_ttl_ms, expires_ms, used_at, owner) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET message_ttl_ms = excluded.message_ttl_ms,
             expires_ms = excluded.expires_ms, used_at = excluded.used_at, owner = excluded.owner`,
      ),
      touch: db.prepare('UPDATE celeriac_queues SET used_at = ? WHERE name = ?'),
      get: db.prepare('SELECT * FROM celeriac_queues WHERE name = ?'),
      all: db.prepare('SELECT * FROM celeriac_queues'),
      dropOld: db.prepare(
        'DELETE FROM celeriac_messages WHERE queue = ? AND lease_token IS NULL AND published_at <= ?',
      ),
      deleteMessages: db.prepare('DELETE FROM celeriac_messages WHERE queue = ?'),
      deleteBindings: db.prepare('DELETE FROM celeriac_bindings WHERE queue = ?'),
      deleteRow: db.prepare('DELETE FROM celeriac_queues WHERE name = ?'),
    };
  }

  /** Records a queue's TTL and expiry (and its owner when it auto-deletes); a queue without either is left alone. */
  declare(spec: QueueSpec, owner: string | null): void {
    const ttl = spec.messageTtlMs ?? null;
    const expires = spec.expiresMs ?? null;
    if (ttl === null && expires === null && owner === null) {
      this.stmts.touch.run(Date.now(), spec.name);
      return;
    }
    this.stmts.upsert.run(spec.name, ttl, expires, Date.now(), owner);
  }

  /** The message TTL of each of these queues that has one. */
  ttls(queues: readonly string[]): Map<string, number> {
    const ttls = new Map<string, number>();
    for (const name of queues) {
      const row = this.stmts.get.get(name) as QueueRow | undefined;
      if (row?.message_ttl_ms != null) ttls.set(name, row.message_ttl_ms);
    }
    return ttls;
  }

  /** The shortest expiry among these queues (their consumer must touch them more often than that), if any. */
  shortestExpiry(queues: readonly string[]): number | undefined {
    let shortest: number | undefined;
    for (const name of queues) {
      const row = this.stmts.get.get(name) as QueueRow | undefined;
      if (row?.expires_ms != null) shortest = Math.min(shortest ?? Infinity, row.expires_ms);
    }
    return shortest;
  }

  /** Marks queues as used now (a live consumer holds them). */
  touch(queues: Iterable<string>): void {
    const now = Date.now();
    for (const name of queues) this.stmts.touch.run(now, name);
  }

  /** Deletes the ready messages of these queues that waited longer than their TTL. */
  dropExpiredMessages(ttls: ReadonlyMap<string, number>): void {
    const now = Date.now();
    for (const [name, ttl] of ttls) this.stmts.dropOld.run(name, now - ttl);
  }

  /** Drops a queue's expired messages, if it has a TTL (before its size is read). */
  freshen(queue: string): void {
    const row = this.stmts.get.get(queue) as QueueRow | undefined;
    if (row?.message_ttl_ms != null) this.stmts.dropOld.run(queue, Date.now() - row.message_ttl_ms);
  }

  /** Deletes expired queues and auto-deleting queues of dead processes; returns their names. */
  sweep(): string[] {
    const now = Date.now();
    const host = hostname();
    const gone = (this.stmts.all.all() as QueueRow[]).filter((row) => {
      if (row.expires_ms !== null && row.used_at + row.expires_ms <= now) return true;
      if (row.owner === null) return false;
      const [ownerHost, pid] = row.owner.split('/');
      return ownerHost === host && pid !== undefined && !this.isAlive(Number(pid));
    });
    if (gone.length === 0) return [];
    this.db.transaction(() => {
      for (const row of gone) this.deleteQueue(row.name);
    })();
    return gone.map((row) => row.name);
  }

  /** Deletes a queue, its messages (held ones too: nobody can settle them any more) and its bindings. */
  deleteQueue(name: string): void {
    this.stmts.deleteMessages.run(name);
    this.stmts.deleteBindings.run(name);
    this.stmts.deleteRow.run(name);
  }
}
