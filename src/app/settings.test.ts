/**
 * The settings table keeps its promises: docs/configuration.md is generated from it, every documented setting is
 * read by the files its row names (or is explicitly pending), every default passes its own validator, and its Celery
 * names are Celery 5.2.6's (checked against the installed Celery).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CELERY_SETTING_NAMES } from './celery-setting-names.js';
import { SNAKE_CASE } from './config.js';
import { replaceSettingsDocs } from './settings-docs.js';
import { SETTINGS, type AnySetting } from './settings.js';

const ROOT = new URL('../../', import.meta.url);
const DOC = readFileSync(new URL('docs/configuration.md', ROOT), 'utf8');
const ROWS = Object.entries(SETTINGS) as [string, AnySetting][];

/** The option names in the first column of the documentation's settings tables. */
function documentedSettings(): string[] {
  return [...DOC.matchAll(/^\| `(\w+)` \| `\w+`/gm)].map((m) => m[1]!);
}

describe('settings table', () => {
  it('is what docs/configuration.md shows (npm run docs:config regenerates it)', () => {
    expect(replaceSettingsDocs(DOC)).toBe(DOC);
    expect(documentedSettings()).toEqual(Object.keys(SETTINGS));
  });

  it.each(documentedSettings())('has %s read by the files its row names', (name) => {
    const row = (SETTINGS as Readonly<Record<string, AnySetting>>)[name];
    expect(row, `${name} is documented but has no row`).toBeDefined();
    expect(row!.readBy.length, `${name} names no reader`).toBeGreaterThan(0);
    if (row!.pending !== undefined) return; // Read once its issue lands; until then only the default is accepted.
    const read = new RegExp(`\\.${row!.readAs ?? name}\\b`);
    for (const file of row!.readBy) {
      const source = readFileSync(new URL(file, ROOT), 'utf8');
      expect(read.test(source), `${name}: ${file} does not read .${row!.readAs ?? name}`).toBe(true);
    }
  });

  it.each(ROWS)('accepts the default of %s', (name, row) => {
    if (!('default' in row) || row.default === null) return;
    expect(row.validate.compile(row.default, name)).toEqual(row.default);
  });

  it('maps every Celery name to one setting', () => {
    expect(Object.keys(SNAKE_CASE)).toHaveLength(ROWS.length);
    expect(SNAKE_CASE.broker_url).toBe('broker');
    expect(SNAKE_CASE.result_backend).toBe('backend');
  });

  it("uses Celery 5.2.6's setting names, and knows all of them", () => {
    const script =
      'from celery.app.defaults import flatten, NAMESPACES\nprint("\\n".join(sorted(k for k, _ in flatten(NAMESPACES))))';
    const installed = execFileSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect([...CELERY_SETTING_NAMES].sort()).toEqual(installed);
    for (const [name, row] of ROWS) {
      expect(CELERY_SETTING_NAMES.has(row.celery), `${name}: ${row.celery}`).toBe(!row.celeriacOnly);
    }
  });
});
