/**
 * Where a pool child's program is, and what it needs to run it. From a build, `child-main.js` runs as is; from
 * source (tests, `tsx`), `child-main.ts` needs tsx's loader, which is resolved from this package so the child
 * finds it whatever its working directory. Shared by the threads and prefork transports.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const fromSource = import.meta.url.endsWith('.ts');

/** Absolute path of the child program next to this file (.ts from source, .js from a build). */
export function childMainPath(): string {
  return fileURLToPath(new URL(`./child-main${fromSource ? '.ts' : '.js'}`, import.meta.url));
}

/**
 * tsx's hooks to load TypeScript, when running from source; null from a build. The API entries are the ESM ones
 * (the `import` condition of tsx's exports map), which `require.resolve` would not pick.
 */
export function tsxUrls(): { loader: string; esmApi: string; cjsApi: string } | null {
  if (!fromSource) return null;
  const root = dirname(require.resolve('tsx/package.json'));
  const exports = (require('tsx/package.json') as { exports: Record<string, unknown> }).exports;
  const importEntry = (subpath: string): string => {
    const entry = exports[subpath] as { import: { default: string } };
    return pathToFileURL(join(root, entry.import.default)).href;
  };
  return {
    loader: pathToFileURL(require.resolve('tsx')).href,
    esmApi: importEntry('./esm/api'),
    cjsApi: importEntry('./cjs/api'),
  };
}

/**
 * Node flags a child process inherits: memory and diagnostics flags, not the parent's loaders (the child gets its
 * own) and not `--inspect` (a second debugger on the same port would fail).
 */
export function inheritedExecArgv(): string[] {
  return process.execArgv.filter((flag) =>
    /^--(max-old-space-size|max-semi-space-size|stack-size|enable-source-maps|expose-gc|no-warnings|unhandled-rejections|trace-warnings)/.test(
      flag,
    ),
  );
}

/** How a process ended, in billiard's words (`billiard/common.py human_status`). */
export function humanStatus(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) {
    const number = (constants.signals as Record<string, number | undefined>)[signal];
    return number === undefined ? `signal ${signal}` : `signal ${number} (${signal})`;
  }
  return `exitcode ${code ?? 0}`;
}

/** Calls `onLine` for each line written to a stream (a child's stdout or stderr). */
export function forwardLines(stream: Readable | null | undefined, onLine: (line: string) => void): void {
  if (!stream) return;
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline !== -1) {
      const line = buffered.slice(0, newline).trimEnd();
      buffered = buffered.slice(newline + 1);
      if (line.length > 0) onLine(line);
      newline = buffered.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (buffered.trim().length > 0) onLine(buffered.trimEnd());
    buffered = '';
  });
}
