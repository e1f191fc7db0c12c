/**
 * `npm run bench -- --smoke`: tiny runs of every contender on the real Redis (and RabbitMQ, Python Celery), checking
 * the printed table and the JSON report's shape. No timing is asserted: the benchmark itself is the place for speed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dirs: string[] = [];

interface Figure {
  median: number;
  min: number;
  max: number;
  samples: number[];
}
interface Report {
  format: string;
  mode: string;
  settings: { n: number; reps: number };
  machine: Record<string, unknown>;
  scenarios: {
    id: string;
    title: string;
    metrics: { key: string; better: string }[];
    rows: {
      contender: string;
      system: string;
      figures: Record<string, Figure>;
      ratios: Record<string, number>;
      note?: string;
    }[];
  }[];
  markdown: string;
}

function bench(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string; report: Report }> {
  const out = mkdtempSync(join(tmpdir(), 'celeriac-bench-smoke-'));
  dirs.push(out);
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--smoke', '--out', out, ...args],
      {
        cwd: ROOT,
        // The test Redis database: keys under the run's own prefixes, deleted afterwards.
        env: { ...process.env, BENCH_REDIS_URL: REDIS_URL, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      const files = readdirSync(out).filter((f) => f.endsWith('.json'));
      if (files.length !== 1) {
        reject(
          new Error(`expected one JSON report in ${out}, found ${files.join(', ')}\n${stdout}\n${stderr}`),
        );
        return;
      }
      const report = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as Report;
      resolve({ code, stdout, stderr, report });
    });
  });
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm run bench -- --smoke', () => {
  it('runs every contender of scenarios 1, 3, 5 and 8 and reports medians and ratios', async () => {
    const { code, stdout, stderr, report } = await bench(['--only', '1,3,5,8']);
    expect(code, stderr).toBe(0);
    expect(report.format).toBe('celeriac-bench/1');
    expect(report.mode).toBe('smoke');
    expect(report.settings.reps).toBe(1);
    for (const key of ['cores', 'cpuModel', 'node', 'redis', 'rabbitmq', 'celery', 'bullmq']) {
      expect(report.machine).toHaveProperty(key);
    }
    expect(report.scenarios.map((s) => s.id)).toEqual(['1', '3', '5', '8']);
    for (const scenario of report.scenarios) {
      expect(stdout).toContain(`${scenario.id}. ${scenario.title}`);
      const celeriac = scenario.rows.find((r) => r.system === 'celeriac')!;
      expect(celeriac, `${scenario.id}: ${JSON.stringify(scenario.rows)}`).toBeDefined();
      for (const row of scenario.rows) {
        expect(row.note ?? '', `${scenario.id} ${row.contender}`).not.toMatch(/^failed/);
        if (row.note?.startsWith('n/a')) continue;
        for (const metric of scenario.metrics) {
          const fig = row.figures[metric.key]!;
          expect(fig.samples.length).toBe(1);
          expect(fig.min).toBeLessThanOrEqual(fig.median);
          expect(fig.median).toBeLessThanOrEqual(fig.max);
          expect(fig.median).toBeGreaterThan(0);
          if (row !== celeriac) expect(row.ratios[metric.key]).toBeGreaterThan(0);
        }
      }
    }
    const systems = report.scenarios.find((s) => s.id === '3')!.rows.map((r) => r.system);
    expect(systems).toEqual(['celeriac', 'celery', 'celery', 'bullmq']);
    expect(stdout).toMatch(/Celeriac x/);
    expect(report.markdown).toContain('| Celeriac async -c 50 |');
  }, 240_000);

  it('says so in the Python rows when python3-celery is missing, and still measures the others', async () => {
    const { code, stdout, report } = await bench(['--only', '1'], { BENCH_PYTHON: '/nonexistent/python3' });
    expect(code).toBe(0);
    const rows = report.scenarios[0]!.rows;
    const celery = rows.find((r) => r.system === 'celery')!;
    expect(celery.note).toMatch(/^n\/a \(\/nonexistent\/python3 not found/);
    expect(celery.figures).toEqual({});
    expect(rows.find((r) => r.system === 'celeriac')!.figures.rate!.median).toBeGreaterThan(0);
    expect(rows.find((r) => r.system === 'bullmq')!.ratios.rate).toBeGreaterThan(0);
    expect(stdout).toContain('not found (install python3-celery)');
    expect(report.machine.celery).toBe('not installed');
  }, 120_000);

  it('rejects an unknown scenario with a clear message', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--only', '9'], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('--only takes scenario numbers from 1 to 8');
  });
});
