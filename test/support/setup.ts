/**
 * Loaded before every test file (vitest.config.ts `setupFiles`): what src/index.ts does for every program that uses
 * the package, installing the canvas and events ports (src/app/canvas-port.ts, events-port.ts). The package exposes only src/index.ts and
 * src/testing (package.json "exports"), so outside this repository app/ is never used without the port; tests
 * import internal files such as src/app/celery.ts directly, so the test runner installs it for them.
 */
import '../../src/canvas/port.js';
import '../../src/events/port.js';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

// A temporary directory (TMPDIR) per test file, inherited by the processes it starts. Workers journal the tasks
// they start under <tmpdir>/celeriac-journal and recover the journals of dead workers with the same broker and
// backend URLs (src/worker/journal.ts): a worker one file kills on purpose is then recovered by that file's
// workers only, never by another file's worker that happens to share the URLs.
process.env['CELERIAC_TEST_TMP_ROOT'] ??= tmpdir();
const fileTmp = mkdtempSync(join(process.env['CELERIAC_TEST_TMP_ROOT'], 'celeriac-file-'));
// Readable by the service users that private servers run as (postgres, rabbitmq): mkdtemp makes it 0700.
chmodSync(fileTmp, 0o755);
process.env['TMPDIR'] = fileTmp;
afterAll(() => rmSync(fileTmp, { recursive: true, force: true }));
