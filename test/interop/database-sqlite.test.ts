import { join } from 'node:path';
import { tempDir } from '../support/tmp.js';
import { databaseInteropSuite } from './database-suite.js';

await databaseInteropSuite({
  name: 'sqlite',
  setup: async () => {
    const dir = tempDir('interop-db-sqlite');
    return { url: `db+sqlite:///${join(dir.path, 'results.db')}`, drop: async () => dir.remove() };
  },
});
