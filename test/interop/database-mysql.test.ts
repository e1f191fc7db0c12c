import { createMysqlDatabase } from '../support/databases.js';
import { databaseInteropSuite } from './database-suite.js';

// Python reaches MariaDB through PyMySQL (db+mysql+pymysql://); Celeriac ignores the +pymysql part.
await databaseInteropSuite({
  name: 'mysql',
  setup: async () => {
    const db = await createMysqlDatabase('interop');
    return { url: db.url.replace('db+mysql://', 'db+mysql+pymysql://'), drop: () => db.drop() };
  },
});
