import { afterAll, beforeAll } from 'vitest';
import { createMysqlDatabase, createPgDatabase, type TestDatabase } from '../../../test/support/databases.js';
import { tempDir } from '../../../test/support/tmp.js';
import { silentLogger } from '../../lifecycle/logger.js';
import { backendConformance } from '../conformance/backend-suite.js';
import { createDatabaseBackend } from './database-backend.js';

let postgres: TestDatabase;
let mariadb: TestDatabase;
const dir = tempDir('db-backend');

beforeAll(async () => {
  [postgres, mariadb] = await Promise.all([
    createPgDatabase('conformance'),
    createMysqlDatabase('conformance'),
  ]);
});
afterAll(async () => {
  await Promise.all([postgres.drop(), mariadb.drop()]);
  dir.remove();
});

const context = (resultExpires: number | null) => ({
  logger: silentLogger(),
  resultExpires,
  transportOptions: {},
});

backendConformance('database (PostgreSQL)', {
  create: ({ resultExpires }) => createDatabaseBackend(postgres.url, context(resultExpires)),
  lacks: { membership: true },
});

backendConformance('database (MariaDB)', {
  create: ({ resultExpires }) => createDatabaseBackend(mariadb.url, context(resultExpires)),
  lacks: { membership: true },
});

backendConformance('database (SQLite)', {
  create: ({ resultExpires }) =>
    createDatabaseBackend(`db+sqlite:///${dir.path}/results.db`, context(resultExpires)),
  lacks: { membership: true },
});
