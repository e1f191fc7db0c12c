/**
 * Celery's tables (`celery/backends/database/models.py`: `celery_taskmeta` with the `result_extended` columns,
 * `celery_tasksetmeta`, ids from `task_id_sequence` / `taskset_id_sequence` where the database has sequences) plus
 * Celeriac's two chord tables, created when missing, as SQLAlchemy's `create_all` does. Where Celeriac creates a
 * table on MySQL/MariaDB it widens BLOB/TEXT to LONGBLOB/LONGTEXT and DATETIME to DATETIME(6) (SQLAlchemy's
 * defaults cap a result at 64 KiB and drop microseconds); Python reads both the same way.
 */
import { createHash } from 'node:crypto';
import { ImproperlyConfigured } from '../../errors.js';
import { text } from './rows.js';
import type { SqlClient, SqlExecutor } from './sql-client.js';
import type { Dialect } from './url.js';

/** `database_table_names` / `database_table_schemas`: `{task, group}` each. */
export interface TableSettings {
  readonly names: Readonly<{ task?: string; group?: string }>;
  readonly schemas: Readonly<{ task?: string; group?: string }>;
}

export interface Tables {
  readonly task: string;
  readonly group: string;
  readonly chord: string;
  readonly chordPart: string;
  /** The `id` value of a new task / group row: the sequence's next value, or nothing (auto-increment). */
  readonly taskId: string | null;
  readonly groupId: string | null;
  /** LISTEN/NOTIFY channel of the task table (PostgreSQL). */
  readonly channel: string;
  readonly taskTable: { schema: string | null; name: string };
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

function identifier(value: string, setting: string): string {
  if (!IDENTIFIER.test(value)) {
    throw new ImproperlyConfigured(
      `Invalid ${setting} ${JSON.stringify(value)}: expected a plain SQL identifier (letters, digits, _)`,
    );
  }
  return value;
}

export function quote(dialect: Dialect, name: string): string {
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

export function resolveTables(
  client: Pick<SqlClient, 'dialect' | 'mariadb'>,
  settings: TableSettings,
): Tables {
  const { dialect } = client;
  const schemaOf = (kind: 'task' | 'group'): string | null => {
    const schema = settings.schemas[kind];
    // SQLite has no schemas (an attached database would be needed); the setting has no meaning there.
    return schema === undefined || dialect === 'sqlite'
      ? null
      : identifier(schema, `database_table_schemas.${kind}`);
  };
  const qualify = (schema: string | null, name: string): string =>
    schema === null ? quote(dialect, name) : `${quote(dialect, schema)}.${quote(dialect, name)}`;
  const taskSchema = schemaOf('task');
  const groupSchema = schemaOf('group');
  const taskName = identifier(settings.names.task ?? 'celery_taskmeta', 'database_table_names.task');
  const groupName = identifier(settings.names.group ?? 'celery_tasksetmeta', 'database_table_names.group');
  const sequence = (schema: string | null, name: string): string | null => {
    if (dialect === 'postgresql') return `nextval('${qualify(schema, name)}')`;
    if (dialect === 'mysql' && client.mariadb) return `NEXTVAL(${qualify(schema, name)})`;
    return null;
  };
  const suffix =
    taskSchema === null && taskName === 'celery_taskmeta' ? '' : `_${hash(`${taskSchema}.${taskName}`)}`;
  return {
    task: qualify(taskSchema, taskName),
    group: qualify(groupSchema, groupName),
    chord: qualify(taskSchema, 'celeriac_chord'),
    chordPart: qualify(taskSchema, 'celeriac_chord_part'),
    taskId: sequence(taskSchema, 'task_id_sequence'),
    groupId: sequence(groupSchema, 'taskset_id_sequence'),
    channel: `celeriac_taskmeta${suffix}`,
    taskTable: { schema: taskSchema, name: taskName },
  };
}

function hash(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 10);
}

interface Types {
  blob: string;
  text: string;
  time: string;
  autoId: string;
  serial: string;
  double: string;
}

const TYPES: Record<Dialect, Types> = {
  postgresql: {
    blob: 'BYTEA',
    text: 'TEXT',
    time: 'TIMESTAMP WITHOUT TIME ZONE',
    autoId: 'INTEGER NOT NULL',
    serial: 'BIGSERIAL PRIMARY KEY',
    double: 'DOUBLE PRECISION',
  },
  mysql: {
    blob: 'LONGBLOB',
    text: 'LONGTEXT',
    time: 'DATETIME(6)',
    autoId: 'INTEGER NOT NULL',
    serial: 'BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY',
    double: 'DOUBLE',
  },
  sqlite: {
    blob: 'BLOB',
    text: 'TEXT',
    time: 'DATETIME',
    autoId: 'INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT',
    serial: 'INTEGER PRIMARY KEY AUTOINCREMENT',
    double: 'REAL',
  },
};

function ddl(client: Pick<SqlClient, 'dialect' | 'mariadb'>, t: Tables): string[] {
  const { dialect } = client;
  const y = TYPES[dialect];
  const mysqlAuto = dialect === 'mysql' && !client.mariadb;
  const id = mysqlAuto ? 'INTEGER NOT NULL AUTO_INCREMENT' : y.autoId;
  const pk = dialect === 'sqlite' ? '' : 'PRIMARY KEY (id), ';
  const statements: string[] = [];
  const sequence = (value: string | null): void => {
    const name = value?.replace(/^nextval\('(.*)'\)$/, '$1').replace(/^NEXTVAL\((.*)\)$/, '$1');
    if (name) statements.push(`CREATE SEQUENCE IF NOT EXISTS ${name}`);
  };
  sequence(t.taskId);
  statements.push(
    `CREATE TABLE IF NOT EXISTS ${t.task} (id ${id}, task_id VARCHAR(155), status VARCHAR(50), result ${y.blob}, ` +
      `date_done ${y.time}, traceback ${y.text}, name VARCHAR(155), args ${y.blob}, kwargs ${y.blob}, ` +
      `worker VARCHAR(155), retries INTEGER, queue VARCHAR(155), ${pk}UNIQUE (task_id))`,
  );
  sequence(t.groupId);
  statements.push(
    `CREATE TABLE IF NOT EXISTS ${t.group} (id ${id}, taskset_id VARCHAR(155), result ${y.blob}, ` +
      `date_done ${y.time}, ${pk}UNIQUE (taskset_id))`,
  );
  statements.push(
    `CREATE TABLE IF NOT EXISTS ${t.chord} (group_id VARCHAR(155) NOT NULL PRIMARY KEY, size INTEGER, ` +
      `extra INTEGER NOT NULL DEFAULT 0, ready INTEGER NOT NULL DEFAULT 0, date_done ${y.time})`,
    `CREATE TABLE IF NOT EXISTS ${t.chordPart} (seq ${y.serial}, group_id VARCHAR(155) NOT NULL, ` +
      `task_id VARCHAR(155) NOT NULL, state VARCHAR(50) NOT NULL, result ${y.text}, group_index ${y.double}, ` +
      `date_done ${y.time}, UNIQUE (group_id, task_id))`,
  );
  if (dialect === 'postgresql') statements.push(...notifyTrigger(t));
  return statements;
}

/**
 * PostgreSQL: every write to the task table, Celeriac's or Python Celery's, NOTIFYs its task id, so waiters
 * LISTEN instead of polling. The trigger is Celeriac's only addition to Celery's table; Python does not see it.
 */
function notifyTrigger(t: Tables): string[] {
  const schema = t.taskTable.schema === null ? '' : `${quote('postgresql', t.taskTable.schema)}.`;
  const fn = `${schema}"celeriac_notify_taskmeta"`;
  return [
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ ` +
      'BEGIN PERFORM pg_notify(TG_ARGV[0], NEW.task_id); RETURN NULL; END $$',
    `DROP TRIGGER IF EXISTS celeriac_notify ON ${t.task}`,
    `CREATE TRIGGER celeriac_notify AFTER INSERT OR UPDATE ON ${t.task} FOR EACH ROW ` +
      `EXECUTE FUNCTION ${fn}('${t.channel}')`,
  ];
}

/** Creates what is missing, one process at a time (an advisory lock on PostgreSQL, GET_LOCK on MySQL). */
export async function migrate(client: SqlClient, tables: Tables): Promise<void> {
  const statements = ddl(client, tables);
  await client.transaction(async (tx: SqlExecutor) => {
    if (client.dialect === 'postgresql') await tx.query('SELECT pg_advisory_xact_lock(72620518)');
    if (client.dialect === 'mysql') await tx.query("SELECT GET_LOCK('celeriac_migrate', 60)");
    try {
      for (const statement of statements) await tx.query(statement);
    } finally {
      if (client.dialect === 'mysql') await tx.query("SELECT RELEASE_LOCK('celeriac_migrate')");
    }
  });
}

/** The columns the task table has (a table Python created without `result_extended` lacks name, args, ...). */
export async function taskColumns(client: SqlClient, tables: Tables): Promise<Set<string>> {
  const { schema, name } = tables.taskTable;
  const sql =
    client.dialect === 'sqlite'
      ? 'SELECT name AS column_name FROM pragma_table_info(?)'
      : client.dialect === 'postgresql'
        ? 'SELECT column_name FROM information_schema.columns WHERE table_schema = COALESCE(?, current_schema()) AND table_name = ?'
        : 'SELECT column_name AS column_name FROM information_schema.columns WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?';
  const params = client.dialect === 'sqlite' ? [name] : [schema, name];
  const { rows } = await client.query(sql, params);
  return new Set(rows.map((r) => text(r.column_name ?? r.COLUMN_NAME).toLowerCase()));
}
