/**
 * docs/getting-started.md as a new user runs it: the packed tarball installed in a fresh `npm init -y` folder with
 * the documented commands, `tasks.ts` and `send.ts` copied from the page, the worker started with the documented
 * command, and `npx tsx send.ts` printing the result and exiting by itself (no `app.close()` in the script).
 *
 * Two departures from the page keep the test bounded in time, and are the only ones: `npm install` gets
 * `--prefer-offline --ignore-scripts` (the tarballs are in npm's cache once the repository is installed; metadata
 * `npm ci` never fetched comes from the registry), and
 * better-sqlite3's native binary is copied from the repository's own install instead of being compiled again
 * (what its install script does, for minutes). Needs `dist/` (npm test builds it first).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchProcess, type RunningProcess } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/getting-started.md'), 'utf8');
const dir = tempDir('getting-started');
const project = join(dir.path, 'project');
let worker: RunningProcess | undefined;
let tarball = '';

/** The fenced code blocks of the page, in order. */
function blocks(): string[] {
  return [...DOC.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function block(containing: string): string {
  const found = blocks().find((b) => b.includes(containing));
  if (!found) throw new Error(`docs/getting-started.md has no code block containing ${containing}`);
  return found;
}

function sh(command: string, timeoutMs = 120_000): string {
  const run = spawnSync('sh', ['-c', command], { cwd: project, encoding: 'utf8', timeout: timeoutMs });
  if (run.status !== 0) {
    throw new Error(`"${command}" failed (${run.status ?? run.signal}):\n${run.stdout}\n${run.stderr}`);
  }
  return run.stdout;
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/index.js'))) throw new Error('dist/ is missing: run npm run build first');
  const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir.path], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (packed.status !== 0) throw new Error(`npm pack failed:\n${packed.stderr}`);
  tarball = join(
    dir.path,
    readdirSync(dir.path).find((f) => f.endsWith('.tgz'))!,
  );
  mkdirSync(project);
  for (const line of block('npm init -y').split('\n')) {
    const command = line.replace(/#.*/, '').trim();
    if (!command) continue;
    if (command.startsWith('npm install ')) {
      sh(`npm install --prefer-offline --ignore-scripts --no-audit --no-fund ${tarball}`, 240_000);
    } else {
      sh(command);
    }
  }
  const release = 'node_modules/better-sqlite3/build/Release';
  mkdirSync(join(project, release), { recursive: true });
  copyFileSync(join(ROOT, release, 'better_sqlite3.node'), join(project, release, 'better_sqlite3.node'));
  writeFileSync(join(project, 'tasks.ts'), block('// tasks.ts'));
  writeFileSync(join(project, 'send.ts'), block('// send.ts'));
}, 300_000);

afterAll(async () => {
  if (worker) {
    process.kill(-worker.pid, 'SIGTERM');
    await worker.exited();
  }
  dir.remove();
});

describe('docs/getting-started.md in a fresh npm init -y folder', () => {
  it('packs no source maps (they would point at sources the package does not ship)', () => {
    const files = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
    expect(files).toContain('package/dist/index.js');
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
  });

  it('installs as documented: an ES module project with celeriac and tsx', () => {
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.type).toBe('module');
    expect(existsSync(join(project, 'node_modules/.bin/celeriac'))).toBe(true);
    expect(existsSync(join(project, 'node_modules/.bin/tsx'))).toBe(true);
  });

  it('runs the worker and send.ts as written; send.ts prints the result and exits by itself', async () => {
    const command = /npx celeriac -A \.\/tasks\.ts worker -l info/.exec(DOC)?.[0];
    expect(command).toBeDefined();
    worker = watchProcess(
      spawn('sh', ['-c', `exec ${command!}`], {
        cwd: project,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
      90_000,
    );
    await worker.waitFor(/ready\./);
    const started = Date.now();
    const send = watchProcess(
      spawn('sh', ['-c', 'exec npx tsx send.ts'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    const exit = await Promise.race([
      send.exited(),
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 60 s'), 60_000)),
    ]);
    if (exit !== 0) send.kill('SIGKILL');
    expect(exit, send.output()).toBe(0);
    expect(send.output()).toMatch(/^sent [0-9a-f-]{36}\n8\n$/);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 180_000);
});
