/**
 * Prints a saved benchmark report again: `npx tsx bench/show.ts bench/results/<file>.json [--markdown]`
 * (the Markdown form is what README.md's Performance section shows).
 */
import { readFileSync } from 'node:fs';
import { formatMarkdown, formatTable } from './lib/table.js';
import { checkTargets, formatTargets } from './lib/targets.js';
import type { ScenarioReport } from './lib/types.js';

const [file, flag] = process.argv.slice(2);
if (!file) {
  console.error('Usage: npx tsx bench/show.ts bench/results/<file>.json [--markdown]');
  process.exit(2);
}
const report = JSON.parse(readFileSync(file, 'utf8')) as {
  mode: string;
  settings: { n: number; reps: number };
  machine: Record<string, unknown>;
  scenarios: ScenarioReport[];
};
const m = report.machine;
console.log(
  `${report.mode} mode, ${report.settings.n} tasks, median of ${report.settings.reps}; ${String(m.cores)} cores ` +
    `(${String(m.cpuModel)}), Node ${String(m.node)}, Redis ${String(m.redis)}, RabbitMQ ${String(m.rabbitmq)}, ` +
    `Celery ${String(m.celery)}, BullMQ ${String(m.bullmq)}, Celeriac ${String(m.celeriac)} (${String(m.commit)})\n`,
);
const markdown = flag === '--markdown';
console.log(markdown ? formatMarkdown(report.scenarios) : formatTable(report.scenarios));
console.log(formatTargets(checkTargets(report.scenarios), markdown));
