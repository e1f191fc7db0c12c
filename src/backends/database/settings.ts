/**
 * The `database_*` settings Celery reads for its database backend, checked once: `database_table_names` and
 * `database_table_schemas` (`{task, group}`), `database_engine_options` (SQLAlchemy engine keywords; the pool ones
 * are honoured, see EngineOptions) and `database_short_lived_sessions`.
 */
import { ImproperlyConfigured } from '../../errors.js';
import type { EngineOptions } from './sql-client.js';
import type { TableSettings } from './schema.js';

export interface DatabaseSettingsInput {
  readonly tableNames?: Readonly<Record<string, unknown>> | null | undefined;
  readonly tableSchemas?: Readonly<Record<string, unknown>> | null | undefined;
  readonly engineOptions?: Readonly<Record<string, unknown>> | null | undefined;
  readonly shortLivedSessions?: boolean | undefined;
}

export interface DatabaseSettings {
  readonly tables: TableSettings;
  readonly engine: EngineOptions;
}

function tableMap(setting: string, value: Readonly<Record<string, unknown>> | null | undefined) {
  const out: { task?: string; group?: string } = {};
  for (const [key, name] of Object.entries(value ?? {})) {
    if ((key !== 'task' && key !== 'group') || typeof name !== 'string') {
      throw new ImproperlyConfigured(
        `Invalid ${setting}: ${JSON.stringify(value)}: expected {"task": "<name>", "group": "<name>"}`,
      );
    }
    out[key] = name;
  }
  return out;
}

function number(options: Readonly<Record<string, unknown>>, key: string, fallback: number): number {
  const value = options[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ImproperlyConfigured(
      `Invalid database_engine_options.${key}: ${JSON.stringify(value)}: expected a number`,
    );
  }
  return value;
}

export function readDatabaseSettings(input: DatabaseSettingsInput | undefined): DatabaseSettings {
  const engine = input?.engineOptions ?? {};
  const connectArgs = engine.connect_args ?? engine.connectArgs ?? {};
  if (typeof connectArgs !== 'object' || connectArgs === null) {
    throw new ImproperlyConfigured('Invalid database_engine_options.connect_args: expected an object');
  }
  return {
    tables: {
      names: tableMap('database_table_names', input?.tableNames),
      schemas: tableMap('database_table_schemas', input?.tableSchemas),
    },
    engine: {
      poolSize: Math.max(1, number(engine, 'pool_size', 5) + Math.max(0, number(engine, 'max_overflow', 10))),
      poolTimeout: number(engine, 'pool_timeout', 30),
      poolRecycle: number(engine, 'pool_recycle', -1),
      connectArgs: connectArgs as Record<string, unknown>,
      shortLived: input?.shortLivedSessions ?? false,
    },
  };
}
