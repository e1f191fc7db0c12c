import { createPgDatabase } from '../support/databases.js';
import { databaseInteropSuite } from './database-suite.js';

await databaseInteropSuite({ name: 'pg', setup: () => createPgDatabase('interop') });
