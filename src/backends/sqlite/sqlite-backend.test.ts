import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { silentLogger } from '../../lifecycle/logger.js';
import { backendConformance } from '../conformance/backend-suite.js';
import { createSqliteBackend } from './sqlite-backend.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-backend-'));
const url = `sqlite://${join(dir, 'results.db')}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

backendConformance('sqlite', {
  create: ({ resultExpires }) =>
    createSqliteBackend(url, { logger: silentLogger(), resultExpires, transportOptions: {} }),
});
