/**
 * The settings tables of docs/configuration.md, generated from the settings rows (`npm run docs:config` writes
 * them; settings.test.ts fails when the committed ones differ).
 */
import { show } from './setting-validators.js';
import { SETTING_GROUPS, type AnySetting } from './settings.js';

export const DOCS_START =
  '<!-- settings:start (generated from src/app/settings.ts by `npm run docs:config`) -->';
export const DOCS_END = '<!-- settings:end -->';

function shownDefault(row: AnySetting): string {
  if (row.shownDefault !== undefined) return row.shownDefault;
  if ('sameAs' in row) return `the \`${row.sameAs}\` value`;
  return row.default === null ? 'null' : `\`${show(row.default)}\``;
}

function meaning(row: AnySetting): string {
  if (row.pending === undefined) return row.doc;
  return `${row.doc}. **Not implemented yet** (${row.pending}): only the default is accepted`;
}

function line(name: string, row: AnySetting): string {
  const celery = `\`${row.celery}\`${row.celeriacOnly ? ' (Celeriac only)' : ''}`;
  const cells = [`\`${name}\``, celery, shownDefault(row), row.unit ?? '', meaning(row)];
  return `| ${cells.join(' | ')} |`;
}

/** Every group as a section with its table. */
export function renderSettingsDocs(): string {
  const sections = SETTING_GROUPS.map(([title, rows]) => {
    const lines = Object.entries(rows as Readonly<Record<string, AnySetting>>).map(([name, row]) =>
      line(name, row),
    );
    return [
      `### ${title}`,
      '',
      '| option | Celery name | default | unit | meaning |',
      '|---|---|---|---|---|',
      ...lines,
    ].join('\n');
  });
  return [DOCS_START, '', sections.join('\n\n'), '', DOCS_END].join('\n');
}

/** `markdown` with the generated part (between the markers) replaced by `renderSettingsDocs()`. */
export function replaceSettingsDocs(markdown: string): string {
  const start = markdown.indexOf(DOCS_START);
  const end = markdown.indexOf(DOCS_END);
  if (start === -1 || end < start) {
    throw new Error(`docs/configuration.md needs the markers ${DOCS_START} and ${DOCS_END}`);
  }
  return markdown.slice(0, start) + renderSettingsDocs() + markdown.slice(end + DOCS_END.length);
}
