/**
 * Keeps docs/tasks.md, docs/calling.md, docs/canvas.md and docs/extending.md true: every TypeScript block names, on
 * its first line, the example file it is an excerpt of; the excerpt must appear in that file as written, and the
 * file must be run by a test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function blocks(doc: string): { file: string; code: string }[] {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => {
    const [first, ...rest] = match[1]!.split('\n');
    const file = /^\/\/ (examples\/\S+\.ts)$/.exec(first ?? '')?.[1];
    if (!file) throw new Error(`${doc}: a ts block does not start with "// examples/<file>.ts": ${first}`);
    return { file, code: rest.join('\n').trimEnd() };
  });
}

/** Whether some test file next to `file` imports it (or `file` is itself a test, or runs it by name). */
function runByATest(file: string): boolean {
  if (file.endsWith('.test.ts')) return true;
  const dir = join(ROOT, dirname(file));
  const base = file.slice(file.lastIndexOf('/') + 1).replace(/\.ts$/, '');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.test.ts'))
    .some((name) => {
      const source = readFileSync(join(dir, name), 'utf8');
      return source.includes(`./${base}.js'`) || source.includes(`./${base}.ts'`);
    });
}

/** Every example of `doc` (at least `min` of them) is an excerpt of a file the test suite runs. */
function checkExamples(doc: string, min: number): void {
  it(`${doc}: every example is an excerpt of a file the test suite runs`, () => {
    const found = blocks(doc);
    expect(found.length).toBeGreaterThanOrEqual(min);
    for (const { file, code } of found) {
      const source = readFileSync(join(ROOT, file), 'utf8');
      expect(source, `${doc} quotes ${file}`).toContain(code);
      expect(runByATest(file), `${file} is run by a test next to it`).toBe(true);
    }
  });
}

for (const doc of ['docs/tasks.md', 'docs/calling.md', 'docs/canvas.md']) checkExamples(doc, 4);
checkExamples('docs/extending.md', 1);
