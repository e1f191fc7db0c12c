/**
 * The targets of issue 8, checked against one run: each names a scenario, a peer row and a metric, and the ratio
 * ("Celeriac x") it must reach, or an absolute bound on Celeriac's own figure.
 */
import type { ScenarioReport } from './types.js';

export interface Target {
  goal: string;
  scenario: string;
  metric: string;
  /** The peer row (a prefix of its label); absent for an absolute bound on Celeriac's row. */
  peer?: string;
  /** Ratio to reach (Celeriac x >= atLeast) */
  atLeast?: number;
  /** Absolute: Celeriac's median must be below this. */
  below?: number;
}

export const TARGETS: Target[] = [
  {
    goal: 'processing, results ignored: >= 10x Celery prefork',
    scenario: '3',
    metric: 'rate',
    peer: 'Celery prefork',
    atLeast: 10,
  },
  {
    goal: 'processing, results ignored: >= 1.5x BullMQ',
    scenario: '3',
    metric: 'rate',
    peer: 'BullMQ',
    atLeast: 1.5,
  },
  {
    goal: 'processing, results stored: >= 10x Celery prefork',
    scenario: '4',
    metric: 'rate',
    peer: 'Celery prefork',
    atLeast: 10,
  },
  {
    goal: 'processing, results stored: >= 1.5x BullMQ',
    scenario: '4',
    metric: 'rate',
    peer: 'BullMQ',
    atLeast: 1.5,
  },
  { goal: 'enqueue awaited: >= 3x Celery', scenario: '1', metric: 'rate', peer: 'Celery', atLeast: 3 },
  { goal: 'bulk enqueue: >= 2x BullMQ addBulk', scenario: '2', metric: 'rate', peer: 'BullMQ', atLeast: 2 },
  { goal: 'latency p50 < 1 ms on Redis', scenario: '5', metric: 'p50', below: 1 },
  { goal: 'latency p50 < 1/5 of Celery', scenario: '5', metric: 'p50', peer: 'Celery', atLeast: 5 },
  { goal: 'chord: >= 10x Celery', scenario: '6', metric: 'ms', peer: 'Celery', atLeast: 10 },
  {
    goal: 'Redis CPU per task <= 1/3 of BullMQ',
    scenario: '8',
    metric: 'redisCpu',
    peer: 'BullMQ',
    atLeast: 3,
  },
  { goal: 'RabbitMQ enqueue: >= 10x Celery', scenario: '7.1', metric: 'rate', peer: 'Celery', atLeast: 10 },
  {
    goal: 'RabbitMQ processing: >= 10x Celery prefork',
    scenario: '7.3',
    metric: 'rate',
    peer: 'Celery prefork',
    atLeast: 10,
  },
  {
    goal: 'RabbitMQ latency p50: >= 10x Celery',
    scenario: '7.5',
    metric: 'p50',
    peer: 'Celery',
    atLeast: 10,
  },
];

export interface TargetCheck {
  goal: string;
  /** The ratio (or, for an absolute bound, Celeriac's figure); undefined when not measured in this run. */
  measured?: number;
  met?: boolean;
  /** Why it was not measured (the Celeriac or peer row's note), when it was not. */
  note?: string;
}

export function checkTargets(reports: readonly ScenarioReport[]): TargetCheck[] {
  return TARGETS.flatMap((target): TargetCheck[] => {
    const report = reports.find((r) => r.id === target.scenario);
    if (!report) return [];
    if (target.below !== undefined) {
      const ours = report.rows.find((r) => r.system === 'celeriac')?.figures[target.metric]?.median;
      return [
        ours === undefined
          ? { goal: target.goal }
          : { goal: target.goal, measured: ours, met: ours < target.below },
      ];
    }
    const row = report.rows.find((r) => r.system !== 'celeriac' && r.contender.startsWith(target.peer ?? ''));
    const ratio = row?.ratios[target.metric];
    if (ratio === undefined || !Number.isFinite(ratio)) {
      const note = report.rows.find((r) => r.system === 'celeriac')?.note ?? row?.note;
      return [note ? { goal: target.goal, note } : { goal: target.goal }];
    }
    return [{ goal: target.goal, measured: ratio, met: ratio >= (target.atLeast ?? 1) }];
  });
}

export function formatTargets(checks: readonly TargetCheck[], markdown = false): string {
  const shown = (check: TargetCheck): [string, string] => {
    if (check.measured === undefined) return [check.note ?? 'not measured', ''];
    const value = check.goal.includes('< 1 ms')
      ? `${check.measured.toFixed(2)} ms`
      : `${check.measured.toFixed(1)}x`;
    return [value, check.met ? 'met' : 'NOT met'];
  };
  if (markdown) {
    return [
      '| Target (issue 8) | Measured | |',
      '|---|---:|---|',
      ...checks.map((c) => `| ${c.goal} | ${shown(c).join(' | ')} |`),
    ].join('\n');
  }
  const width = Math.max(...checks.map((c) => c.goal.length));
  return [
    'Targets (issue 8)',
    ...checks.map((c) => `  ${c.goal.padEnd(width)}  ${shown(c)[0].padStart(12)}  ${shown(c)[1]}`),
  ].join('\n');
}
