import { describe, expect, it } from 'vitest';
import { parseArgs } from './args.js';
import { summarize } from './runner.js';
import { advantage, figure, percentile } from './stats.js';
import { formatMarkdown, formatRatio, formatTable } from './table.js';
import type { Contender, Metric, Sample } from './types.js';

describe('bench statistics', () => {
  it('takes medians and interpolated percentiles', () => {
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(
      percentile(
        Array.from({ length: 101 }, (_, i) => i),
        99,
      ),
    ).toBe(99);
    expect(figure([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, samples: [5, 1, 3] });
  });

  it('says how many times better Celeriac is, for rates and for costs', () => {
    expect(advantage(1000, 100, 'higher')).toBe(10);
    expect(advantage(0.5, 2, 'lower')).toBe(4);
    expect(advantage(0, 2, 'lower')).toBeNaN();
    expect(formatRatio(12.34)).toBe('12x');
    expect(formatRatio(1.26)).toBe('1.3x');
    expect(formatRatio(undefined)).toBe('');
  });
});

describe('bench options', () => {
  it('defaults to quick mode and takes --full, --only, --n and --reps', () => {
    const quick = parseArgs([], '/out');
    expect(quick.mode).toBe('quick');
    expect(quick.settings.reps).toBeGreaterThanOrEqual(3);
    const full = parseArgs(['--full', '--only', '1,5', '--reps=7'], '/out');
    expect(full.settings.n).toBe(20_000);
    expect(full.settings.reps).toBe(7);
    expect([...full.only]).toEqual(['1', '5']);
    expect(parseArgs(['--n', '100'], '/out').settings.n).toBe(100);
  });

  it('rejects bad input with the option named', () => {
    expect(() => parseArgs(['--only', '1,9'], '/out')).toThrow('--only takes scenario numbers from 1 to 8');
    expect(() => parseArgs(['--n', '0'], '/out')).toThrow('--n needs a positive integer, got 0');
    expect(() => parseArgs(['--reps'], '/out')).toThrow('--reps needs a value');
    expect(() => parseArgs(['--fast'], '/out')).toThrow('Unknown option --fast');
  });
});

describe('bench table', () => {
  const metrics: Metric[] = [{ key: 'rate', label: 'tasks/s', unit: 'tasks/s', better: 'higher' }];
  const contender = (system: Contender['system'], label: string): Contender => ({
    system,
    label,
    run: () => Promise.resolve({}),
  });
  const ours = contender('celeriac', 'Celeriac');
  const celery = contender('celery', 'Celery prefork -c 2');
  const bull = contender('bullmq', 'BullMQ');
  const samples = new Map<Contender, Sample[]>([
    [ours, [{ rate: 10_000 }, { rate: 12_000 }, { rate: 11_000 }]],
    [celery, [{ rate: 1000 }, { rate: 1100 }, { rate: 900 }]],
    [bull, []],
  ]);
  const report = summarize(
    '3',
    'Process',
    metrics,
    [ours, celery, bull],
    samples,
    new Map([[bull, 'n/a (down)']]),
  );

  it('keeps min, max and samples, and the ratio of medians', () => {
    expect(report.rows[0]!.figures.rate).toMatchObject({ median: 11_000, min: 10_000, max: 12_000 });
    expect(report.rows[1]!.ratios.rate).toBe(11);
    expect(report.rows[2]).toMatchObject({ figures: {}, note: 'n/a (down)' });
  });

  it('prints one aligned line per contender, with the ratio and any note', () => {
    const text = formatTable([report]);
    expect(text).toContain('3. Process');
    expect(text).toMatch(/Celeriac\s+11,000/);
    expect(text).toMatch(/Celery prefork -c 2\s+1,000\s+11x/);
    expect(text).toMatch(/BullMQ\s+n\/a \(down\)/);
    const markdown = formatMarkdown([report]);
    expect(markdown).toContain('| Celery prefork -c 2 | 1,000 | 11x |');
    expect(markdown).toContain('| BullMQ | n/a (down) | |');
  });
});

describe('bench targets', () => {
  it('checks ratios and absolute bounds from a run, and skips scenarios not run', async () => {
    const { checkTargets, formatTargets } = await import('./targets.js');
    const rate = (median: number) => ({ median, min: median, max: median, samples: [median] });
    const checks = checkTargets([
      {
        id: '3',
        title: 'Process',
        metrics: [{ key: 'rate', label: 'tasks/s', unit: 'tasks/s', better: 'higher' }],
        rows: [
          {
            scenario: '3',
            contender: 'Celeriac',
            system: 'celeriac',
            figures: { rate: rate(20_000) },
            ratios: {},
          },
          {
            scenario: '3',
            contender: 'Celery prefork -c 2',
            system: 'celery',
            figures: { rate: rate(1000) },
            ratios: { rate: 20 },
          },
          {
            scenario: '3',
            contender: 'BullMQ',
            system: 'bullmq',
            figures: { rate: rate(16_000) },
            ratios: { rate: 1.25 },
          },
        ],
      },
      {
        id: '5',
        title: 'Latency',
        metrics: [{ key: 'p50', label: 'p50 ms', unit: 'ms', better: 'lower' }],
        rows: [
          {
            scenario: '5',
            contender: 'Celeriac',
            system: 'celeriac',
            figures: { p50: rate(0.4) },
            ratios: {},
          },
        ],
      },
    ]);
    expect(checks).toEqual([
      { goal: 'processing, results ignored: >= 10x Celery prefork', measured: 20, met: true },
      { goal: 'processing, results ignored: >= 1.5x BullMQ', measured: 1.25, met: false },
      { goal: 'latency p50 < 1 ms on Redis', measured: 0.4, met: true },
      { goal: 'latency p50 < 1/5 of Celery' },
    ]);
    expect(formatTargets(checks)).toMatch(/>= 1.5x BullMQ\s+1.3x {2}NOT met/);
    expect(formatTargets(checks, true)).toContain('| latency p50 < 1 ms on Redis | 0.40 ms | met |');
  });
});
