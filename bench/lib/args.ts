/** Command-line options of `npm run bench` (bench/run.ts). */
import { randomBytes } from 'node:crypto';
import type { Settings } from './types.js';

export const SCENARIO_IDS = ['1', '2', '3', '4', '5', '6', '7', '8'] as const;

export interface Options {
  mode: 'quick' | 'full' | 'smoke';
  settings: Settings;
  /** Scenario numbers to run (7 means 7.1, 7.3 and 7.5). */
  only: Set<string>;
  /** Directory the JSON report goes to. */
  outDir: string;
}

export const USAGE = `Usage: npm run bench -- [--full | --smoke] [--only 1,3,5] [--n N] [--reps R] [--out DIR]

  (default)     quick mode: 5,000 tasks per run, 500 latency calls, 3 repetitions (a few minutes)
  --full        20,000 tasks per run, 1,000 latency calls, 5 repetitions
  --smoke       tiny runs, 1 repetition: checks that every contender works (used by the test suite)
  --only LIST   scenarios to run, comma-separated, from 1-8 (8 runs with 3; 7 is 7.1, 7.3 and 7.5 on RabbitMQ)
  --n N         tasks per throughput run (overrides the mode)
  --reps R      repetitions (overrides the mode)
  --out DIR     where the JSON report goes (default bench/results)

Environment: BENCH_REDIS_URL (default redis://127.0.0.1:6379/15), BENCH_AMQP_URL
(default amqp://guest:guest@127.0.0.1:5672//), BENCH_PYTHON (default /usr/bin/python3).`;

function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${flag} needs a positive integer, got ${String(value)}`);
  return n;
}

export function parseArgs(argv: readonly string[], defaultOut: string): Options {
  let mode: Options['mode'] = 'quick';
  let n: number | undefined;
  let reps: number | undefined;
  let outDir = defaultOut;
  let only = new Set<string>(SCENARIO_IDS);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--full':
        mode = 'full';
        break;
      case '--smoke':
        mode = 'smoke';
        break;
      case '--quick':
        mode = 'quick';
        break;
      case '--only': {
        const ids = value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const bad = ids.filter((id) => !(SCENARIO_IDS as readonly string[]).includes(id));
        if (bad.length > 0 || ids.length === 0) {
          throw new Error(
            `--only takes scenario numbers from 1 to 8 (such as --only 1,3,5), got "${bad.join(',')}"`,
          );
        }
        only = new Set(ids);
        break;
      }
      case '--n':
        n = positiveInt('--n', value());
        break;
      case '--reps':
        reps = positiveInt('--reps', value());
        break;
      case '--out':
        outDir = value();
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`Unknown option ${arg}\n\n${USAGE}`);
    }
  }
  const preset = {
    quick: { n: 5000, latencyCalls: 500, chordSize: 1000, reps: 3 },
    full: { n: 20_000, latencyCalls: 1000, chordSize: 1000, reps: 5 },
    smoke: { n: 30, latencyCalls: 20, chordSize: 20, reps: 1 },
  }[mode];
  const env = process.env;
  return {
    mode,
    only,
    outDir,
    settings: {
      n: n ?? preset.n,
      latencyCalls: preset.latencyCalls,
      chordSize: preset.chordSize,
      reps: reps ?? preset.reps,
      redisUrl: env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      amqpUrl: env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//',
      python: env.BENCH_PYTHON ?? '/usr/bin/python3',
      pythonAvailable: false,
      runId: randomBytes(4).toString('hex'),
    },
  };
}
