/**
 * The chord counter in two Celeriac tables (`celeriac_chord`: size, extra, ready; `celeriac_chord_part`: one row per
 * header task), so chords on a database backend need no `celery.chord_unlock` polling. A part is counted in one
 * transaction: its row is inserted unless the task was already counted (a redelivery), then the chord row is
 * upserted with `ready + 1` and read back under its row lock, so two workers never see the same count.
 * Python Celery's database backend has no such counter (it polls with chord_unlock); see docs/backends/database.md.
 */
import type { JsonValue } from '../../types.js';
import type { ChordCounter, ChordPart, ChordProgress } from '../backend.js';
import { text } from './rows.js';
import type { SqlClient } from './sql-client.js';
import type { Tables } from './schema.js';

/** An upsert of the chord row; `c.` names the stored row and `excluded.` the new values in `sets`. */
function upsert(client: SqlClient, table: string, sets: string): string {
  const columns = '(group_id, size, extra, ready, date_done) VALUES (?, ?, ?, ?, ?)';
  if (client.dialect === 'mysql') {
    const mysqlSets = sets.replace(/excluded\.(\w+)/g, 'VALUES($1)').replace(/\bc\./g, '');
    return `INSERT INTO ${table} ${columns} ON DUPLICATE KEY UPDATE ${mysqlSets}`;
  }
  if (client.dialect === 'sqlite') {
    return `INSERT INTO ${table} ${columns} ON CONFLICT (group_id) DO UPDATE SET ${sets.replace(/\bc\./g, '')}`;
  }
  return `INSERT INTO ${table} AS c ${columns} ON CONFLICT (group_id) DO UPDATE SET ${sets}`;
}

export class SqlChordCounter implements ChordCounter {
  private readonly sql: Record<string, string>;

  constructor(
    private readonly client: SqlClient,
    private readonly tables: Tables,
    private readonly now: () => string,
  ) {
    const { chord, chordPart } = tables;
    const ignore =
      client.dialect === 'mysql'
        ? 'INSERT IGNORE'
        : client.dialect === 'sqlite'
          ? 'INSERT OR IGNORE'
          : 'INSERT';
    this.sql = {
      part:
        `${ignore} INTO ${chordPart} (group_id, task_id, state, result, group_index, date_done) VALUES (?, ?, ?, ?, ?, ?)` +
        (client.dialect === 'postgresql' ? ' ON CONFLICT (group_id, task_id) DO NOTHING' : ''),
      count: upsert(client, chord, 'ready = c.ready + excluded.ready, date_done = excluded.date_done'),
      read: `SELECT ready, size, extra FROM ${chord} WHERE group_id = ?${client.dialect === 'sqlite' ? '' : ' FOR UPDATE'}`,
      size: upsert(client, chord, 'size = excluded.size, date_done = excluded.date_done'),
      extra: upsert(client, chord, 'extra = c.extra + excluded.extra'),
      claim:
        `UPDATE ${chord} SET size = NULL WHERE group_id = ? AND size IS NOT NULL ` +
        'AND (CASE WHEN ready >= size + extra THEN 1 ELSE 0 END) = ?',
      parts:
        `SELECT task_id, state, result FROM ${chordPart} WHERE group_id = ? ` +
        'ORDER BY CASE WHEN group_index IS NULL THEN 1 ELSE 0 END, group_index, seq',
      deleteChord: `DELETE FROM ${chord} WHERE group_id = ?`,
      deleteParts: `DELETE FROM ${chordPart} WHERE group_id = ?`,
    };
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    await this.client.query(this.sql.size!, [groupId, size, 0, 0, this.now()]);
  }

  async addChordPart(groupId: string, part: ChordPart): Promise<ChordProgress> {
    const now = this.now();
    return this.client.transaction(async (tx) => {
      const inserted = await tx.query(this.sql.part!, [
        groupId,
        part.taskId,
        part.state,
        JSON.stringify(part.result),
        part.groupIndex,
        now,
      ]);
      await tx.query(this.sql.count!, [groupId, null, 0, inserted.affected > 0 ? 1 : 0, now]);
      const { rows } = await tx.query(this.sql.read!, [groupId]);
      const row = rows[0] ?? {};
      return {
        ready: Number(row.ready ?? 0),
        size: row.size === null || row.size === undefined ? null : Number(row.size),
        extra: Number(row.extra ?? 0),
      };
    });
  }

  async chordParts(groupId: string): Promise<[number, string, string, JsonValue][]> {
    const { rows } = await this.client.query(this.sql.parts!, [groupId]);
    return rows.map((r) => [1, text(r.task_id), text(r.state), JSON.parse(text(r.result)) as JsonValue]);
  }

  async addToChord(groupId: string, count = 1): Promise<void> {
    await this.client.query(this.sql.extra!, [groupId, null, count, 0, this.now()]);
  }

  async claimChord(groupId: string, when: 'complete' | 'incomplete'): Promise<boolean> {
    const { affected } = await this.client.query(this.sql.claim!, [groupId, when === 'complete' ? 1 : 0]);
    return affected === 1;
  }

  async deleteChord(groupId: string): Promise<void> {
    await this.client.transaction(async (tx) => {
      await tx.query(this.sql.deleteChord!, [groupId]);
      await tx.query(this.sql.deleteParts!, [groupId]);
    });
  }

  /** Chords whose last activity is older than `cutoff` (a SQL timestamp); part of `backend_cleanup`. */
  async cleanup(cutoff: string): Promise<void> {
    const { chord, chordPart } = this.tables;
    await this.client.query(
      `DELETE FROM ${chordPart} WHERE group_id IN (SELECT group_id FROM ${chord} WHERE date_done < ?)`,
      [cutoff],
    );
    await this.client.query(`DELETE FROM ${chord} WHERE date_done < ?`, [cutoff]);
  }
}
