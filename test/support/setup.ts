/**
 * Loaded before every test file (vitest.config.ts `setupFiles`): what src/index.ts does for every program that uses
 * the package, installing the canvas and events ports (src/app/canvas-port.ts, events-port.ts). The package exposes only src/index.ts and
 * src/testing (package.json "exports"), so outside this repository app/ is never used without the port; tests
 * import internal files such as src/app/celery.ts directly, so the test runner installs it for them.
 */
import '../../src/canvas/port.js';
import '../../src/events/port.js';
