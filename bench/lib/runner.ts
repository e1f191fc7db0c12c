/**
 * Runs scenarios: every contender once per repetition, alternating (the starting contender rotates each
 * repetition, so none always runs first), then the median per metric and the ratio to Celeriac's median.
 */
import { advantage, figure } from './stats.js';
import type { Contender, Metric, ResultRow, Sample, Scenario, ScenarioReport, Settings } from './types.js';

export type Progress = (line: string) => void;

export async function runScenario(
  scenario: Scenario,
  settings: Settings,
  progress: Progress,
): Promise<ScenarioReport> {
  const notes = new Map<Contender, string>();
  for (const contender of scenario.contenders) {
    const reason = await contender.unavailable?.();
    if (reason) notes.set(contender, `n/a (${reason})`);
  }
  const samples = new Map<Contender, Sample[]>(scenario.contenders.map((c) => [c, []]));
  const runnable = scenario.contenders.filter((c) => !notes.has(c));
  for (let rep = 0; rep < settings.reps; rep++) {
    const order = runnable.map((_, i) => runnable[(i + rep) % runnable.length]!);
    for (const contender of order) {
      const t0 = performance.now();
      try {
        const sample = await contender.run(settings, rep);
        samples.get(contender)!.push(sample);
        progress(
          `  ${scenario.id} ${contender.label}, rep ${rep + 1}/${settings.reps}: ${describe(sample)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
        );
      } catch (error) {
        const message = (error as Error).message.split('\n')[0] ?? String(error);
        if (!notes.has(contender)) notes.set(contender, `failed: ${message}`);
        progress(
          `  ${scenario.id} ${contender.label}, rep ${rep + 1}: FAILED ${(error as Error).stack ?? message}`,
        );
      }
    }
  }
  return summarize(scenario.id, scenario.title, scenario.metrics, scenario.contenders, samples, notes);
}

function describe(sample: Sample): string {
  return Object.entries(sample)
    .map(([key, value]) => `${key}=${value.toFixed(value < 10 ? 2 : 0)}`)
    .join(' ');
}

export function summarize(
  id: string,
  title: string,
  metrics: Metric[],
  contenders: readonly Contender[],
  samples: ReadonlyMap<Contender, Sample[]>,
  notes: ReadonlyMap<Contender, string>,
): ScenarioReport {
  const rows: ResultRow[] = contenders.map((contender) => {
    const figures: ResultRow['figures'] = {};
    const taken = samples.get(contender) ?? [];
    for (const metric of metrics) {
      const values = taken
        .map((s) => s[metric.key])
        .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      if (values.length > 0) figures[metric.key] = figure(values);
    }
    const note = notes.get(contender);
    return {
      scenario: id,
      contender: contender.label,
      system: contender.system,
      figures,
      ratios: {},
      ...(note ? { note } : {}),
    };
  });
  const base = rows.find((row) => row.system === 'celeriac');
  for (const row of rows) {
    if (!base || row === base) continue;
    for (const metric of metrics) {
      const ours = base.figures[metric.key]?.median;
      const theirs = row.figures[metric.key]?.median;
      if (ours !== undefined && theirs !== undefined)
        row.ratios[metric.key] = advantage(ours, theirs, metric.better);
    }
  }
  return { id, title, metrics, rows };
}

/** A report over other metrics of the same rows (scenario 8 is read from scenario 3's runs). */
export function derive(report: ScenarioReport, id: string, title: string, metrics: Metric[]): ScenarioReport {
  const rows = report.rows.map((row) => {
    const figures: ResultRow['figures'] = {};
    const ratios: ResultRow['ratios'] = {};
    for (const metric of metrics) {
      const fig = row.figures[metric.key];
      if (fig) figures[metric.key] = fig;
      const ratio = row.ratios[metric.key];
      if (ratio !== undefined) ratios[metric.key] = ratio;
    }
    return { ...row, scenario: id, figures, ratios };
  });
  return { id, title, metrics, rows };
}

/** Keeps only `metrics` in a report (scenario 3 shows tasks/s; its memory and CPU figures go to scenario 8). */
export function only(report: ScenarioReport, metrics: Metric[]): ScenarioReport {
  return derive(report, report.id, report.title, metrics);
}
