/**
 * The printed table: one block per scenario, one line per contender, each metric's median and how many times
 * better Celeriac is than that contender ("12.3x": Celeriac 12.3 times faster, or 12.3 times cheaper).
 */
import type { ScenarioReport } from './types.js';

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function formatRatio(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '';
  return `${value >= 10 ? value.toFixed(0) : value.toFixed(1)}x`;
}

/** Plain-text blocks, aligned, for the terminal. */
export function formatTable(reports: readonly ScenarioReport[]): string {
  const out: string[] = [];
  for (const report of reports) {
    const header = ['', ...report.metrics.flatMap((m) => [m.label, 'Celeriac x'])];
    const lines = report.rows.map((row) => {
      if (Object.keys(row.figures).length === 0) return [row.contender, row.note ?? 'n/a'];
      return [
        row.contender,
        ...report.metrics.flatMap((m) => {
          const fig = row.figures[m.key];
          return [
            fig ? formatNumber(fig.median) : '-',
            row.system === 'celeriac' ? '' : formatRatio(row.ratios[m.key]),
          ];
        }),
      ];
    });
    const full = [header, ...lines.filter((l) => l.length === header.length)];
    const widths = header.map((_, i) => Math.max(...full.map((l) => (l[i] ?? '').length)));
    out.push(`${report.id}. ${report.title}`);
    const render = (cells: string[]): string =>
      cells.length === 2 && header.length > 2
        ? `  ${cells[0]!.padEnd(widths[0]!)}  ${cells[1]}`
        : `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`;
    out.push(render(header));
    for (const line of lines) out.push(render(line));
    const notes = report.rows.filter((r) => r.note && Object.keys(r.figures).length > 0);
    for (const row of notes) out.push(`  note: ${row.contender}: ${row.note}`);
    out.push('');
  }
  return out.join('\n');
}

/** The same as a Markdown table per scenario (for README.md). */
export function formatMarkdown(reports: readonly ScenarioReport[]): string {
  const out: string[] = [];
  for (const report of reports) {
    out.push(`**${report.id}. ${report.title}**`, '');
    out.push(`| | ${report.metrics.map((m) => `${m.label} | Celeriac x`).join(' | ')} |`);
    out.push(`|---|${report.metrics.map(() => '---:|---:').join('|')}|`);
    for (const row of report.rows) {
      if (Object.keys(row.figures).length === 0) {
        const empty = ' |'.repeat(report.metrics.length * 2 - 1);
        out.push(`| ${row.contender} | ${row.note ?? 'n/a'} |${empty}`);
        continue;
      }
      const cells = report.metrics.map((m) => {
        const fig = row.figures[m.key];
        return `${fig ? formatNumber(fig.median) : '-'} | ${row.system === 'celeriac' ? '' : formatRatio(row.ratios[m.key])}`;
      });
      out.push(`| ${row.contender} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
