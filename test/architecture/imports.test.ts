/**
 * The layer map of docs/internals.md, checked against every import in src/: dependencies point down only, the CLI
 * uses only the public API (src/index.ts), and src/lifecycle holds no driver code. Reads the source files (a regex
 * over `from '...'`, `import '...'` and `import('...')`), so type-only imports count too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * Top to bottom; a file may import from its own folder and from any row below its own. Folders on one row do not
 * import each other, except on the last row (the leaves) and where ALLOWED says so.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['cli', 'dashboard'],
  ['index.ts', 'testing'],
  ['worker', 'beat', 'events', 'control'],
  ['canvas'],
  ['app'],
  ['result'],
  ['brokers', 'backends'],
  ['transport'],
  ['protocol'],
  ['lifecycle', 'errors.ts', 'types.ts'],
];

/** Imports across one row, each with its reason. */
const ALLOWED: Readonly<Record<string, string>> = {
  'worker -> events': 'the worker sends task events through the event dispatcher',
  'worker -> control':
    'the worker runs the remote-control mailbox and asks the others hello at start (mingle)',
  'control -> events':
    'the mailbox and the control client keep a Lamport clock, as the event dispatcher does',
};

interface Import {
  readonly file: string;
  readonly specifier: string;
  /** The imported file, relative to src/ (undefined for node: and npm modules). */
  readonly target: string | undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const IMPORT = /\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm;

function importsOf(path: string): Import[] {
  const file = relative(SRC, path).split(sep).join('/');
  const text = readFileSync(path, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => {
    const specifier = (m[1] ?? m[2] ?? m[3])!;
    const target = specifier.startsWith('.')
      ? relative(SRC, resolve(dirname(path), specifier))
          .split(sep)
          .join('/')
          .replace(/\.js$/, '.ts')
      : undefined;
    return { file, specifier, target };
  });
}

const IMPORTS = sourceFiles(SRC).flatMap(importsOf);

/** `app` for `app/task.ts`, `index.ts` for `index.ts`. */
function folderOf(file: string): string {
  return file.split('/')[0]!;
}

function rowOf(folder: string): number {
  const row = LAYERS.findIndex((r) => r.includes(folder));
  if (row === -1) {
    throw new Error(`src/${folder} is not on the layer map: add it to LAYERS here and to docs/internals.md`);
  }
  return row;
}

function violation({ file, specifier, target }: Import): string | null {
  if (target === undefined) return null;
  const from = folderOf(file);
  const to = folderOf(target);
  if (target.startsWith('..')) return `${file} imports ${specifier}, outside src/`;
  if (from === to) return null;
  const [fromRow, toRow] = [rowOf(from), rowOf(to)];
  if (toRow > fromRow) return null;
  if (toRow === fromRow && (fromRow === LAYERS.length - 1 || `${from} -> ${to}` in ALLOWED)) return null;
  const direction = toRow < fromRow ? 'up' : 'across';
  return `${file} imports ${specifier}: ${from} -> ${to} points ${direction} the layer map`;
}

describe('the layer map', () => {
  it('is followed by every import in src/', () => {
    expect(IMPORTS.length).toBeGreaterThan(500);
    expect(IMPORTS.map(violation).filter((v) => v !== null)).toEqual([]);
  });

  it('has no import between app/ and canvas/ in the upward direction, so there is no loop', () => {
    const upward = IMPORTS.filter((i) => folderOf(i.file) === 'app' && i.target?.startsWith('canvas/'));
    expect(upward).toEqual([]);
    // The other direction is the normal one, and exists.
    expect(IMPORTS.some((i) => folderOf(i.file) === 'canvas' && i.target?.startsWith('app/'))).toBe(true);
  });

  it('lets the CLI use only the public API: src/index.ts, node and npm modules, and its own files', () => {
    const outside = IMPORTS.filter(
      (i) => folderOf(i.file) === 'cli' && i.target !== undefined && folderOf(i.target) !== 'cli',
    ).filter((i) => i.target !== 'index.ts');
    expect(outside.map((i) => `${i.file} imports ${i.specifier}`)).toEqual([]);
  });

  it('keeps driver code out of src/lifecycle (it lives in src/transport)', () => {
    const drivers = ['ioredis', 'amqplib', 'better-sqlite3', 'pg', 'mysql2'];
    const found = IMPORTS.filter(
      (i) =>
        folderOf(i.file) === 'lifecycle' &&
        drivers.some((d) => i.specifier === d || i.specifier.startsWith(`${d}/`)),
    );
    expect(found.map((i) => `${i.file} imports ${i.specifier}`)).toEqual([]);
  });

  it('catches an upward import (the check itself works)', () => {
    expect(
      violation({ file: 'app/task.ts', specifier: '../canvas/signature.js', target: 'canvas/signature.ts' }),
    ).toMatch(/app -> canvas points up/);
    expect(
      violation({ file: 'brokers/x.ts', specifier: '../backends/y.js', target: 'backends/y.ts' }),
    ).toMatch(/points across/);
    expect(
      violation({ file: 'canvas/x.ts', specifier: '../app/celery.js', target: 'app/celery.ts' }),
    ).toBeNull();
  });
});
