/**
 * Task rows written in one statement per batch: inserted, or updated unless the stored row is a SUCCESS
 * (`celery/backends/base.py:944` keeps a stored SUCCESS). New rows take their `id` from Celery's sequence where the
 * database has sequences (PostgreSQL, MariaDB), else from auto-increment (MySQL, SQLite), as SQLAlchemy does.
 */
import type { Tables } from './schema.js';
import type { SqlClient } from './sql-client.js';

/** PostgreSQL affects a row once per statement; several states of one task in a batch keep the one that wins. */
function collapse(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  const byId = new Map<unknown, Record<string, unknown>>();
  for (const row of rows) {
    const stored = byId.get(row.task_id);
    if (stored?.status === 'SUCCESS') continue;
    byId.delete(row.task_id);
    byId.set(row.task_id, row);
  }
  return [...byId.values()];
}

function statement(client: SqlClient, t: Tables, columns: string[], count: number): string {
  const id = t.taskId === null ? '' : 'id, ';
  const placeholders = `(${t.taskId === null ? '' : `${t.taskId}, `}${columns.map(() => '?').join(', ')})`;
  const values = Array.from({ length: count }, () => placeholders).join(', ');
  const insert = `INSERT INTO ${t.task}${client.dialect === 'postgresql' ? ' AS m' : ''} (${id}${columns.join(', ')}) VALUES ${values}`;
  const updated = columns.filter((c) => c !== 'task_id');
  if (client.dialect === 'mysql') {
    // Assignments run left to right on the updated row, so status, which the others test, comes last.
    const others = updated
      .filter((c) => c !== 'status')
      .map((c) => `${c} = IF(status = 'SUCCESS', ${c}, VALUES(${c}))`);
    return `${insert} ON DUPLICATE KEY UPDATE ${[...others, "status = IF(status = 'SUCCESS', status, VALUES(status))"].join(', ')}`;
  }
  const sets = updated.map((c) => `${c} = excluded.${c}`).join(', ');
  const stored = client.dialect === 'postgresql' ? 'm.status' : 'status';
  return `${insert} ON CONFLICT (task_id) DO UPDATE SET ${sets} WHERE ${stored} IS NULL OR ${stored} <> 'SUCCESS'`;
}

const CHUNK = 200;

export async function upsertTasks(
  client: SqlClient,
  t: Tables,
  rows: Record<string, unknown>[],
): Promise<void> {
  // Rows with and without the result_extended columns go in separate statements.
  const groups = new Map<string, Record<string, unknown>[]>();
  for (const row of collapse(rows)) {
    const key = Object.keys(row).join(',');
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  for (const [key, group] of groups) {
    const columns = key.split(',');
    for (let i = 0; i < group.length; i += CHUNK) {
      const chunk = group.slice(i, i + CHUNK);
      await client.query(
        statement(client, t, columns, chunk.length),
        chunk.flatMap((row) => columns.map((c) => row[c])),
      );
    }
  }
}
