/** Entry point for tests: runs the CLI from source (through tsx), so tests never depend on a stale build. */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv);
