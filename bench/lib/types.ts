/** The shapes the benchmark harness passes around: scenarios, contenders, samples, and the rows of the report. */

/** `higher`: a rate (tasks/s), the bigger the better. `lower`: a time, memory or CPU cost, the smaller the better. */
export type Better = 'higher' | 'lower';

export interface Settings {
  /** Tasks per throughput run. */
  n: number;
  /** Sequential round trips for the latency scenarios. */
  latencyCalls: number;
  /** Header tasks of the chord scenario. */
  chordSize: number;
  reps: number;
  redisUrl: string;
  amqpUrl: string;
  python: string;
  /** False when python3-celery is not installed: Python rows say so instead of a figure. */
  pythonAvailable: boolean;
  /** A short id of this run: part of every key prefix and queue name, so runs never share keys. */
  runId: string;
}

/** One repetition of one contender: named metrics (tasks/s, ms, KiB, µs/task...). */
export type Sample = Record<string, number>;

export interface Metric {
  key: string;
  label: string;
  unit: string;
  better: Better;
}

export interface Contender {
  /** `celeriac`, `celery`, `bullmq`: the ratio column compares each peer with the Celeriac contender. */
  system: 'celeriac' | 'celery' | 'bullmq';
  /** What is shown in the table: "Celery prefork -c 2". */
  label: string;
  /** Why this contender cannot run here ("python3-celery not installed", "canvas not available"), if it cannot. */
  unavailable?: () => Promise<string | undefined> | string | undefined;
  run(settings: Settings, rep: number): Promise<Sample>;
}

export interface Scenario {
  id: string;
  title: string;
  metrics: Metric[];
  contenders: Contender[];
}

export interface Figure {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export interface ResultRow {
  scenario: string;
  contender: string;
  system: Contender['system'];
  /** Per metric key; absent when the contender did not run. */
  figures: Record<string, Figure>;
  /** Per metric key: how many times better Celeriac is than this peer (celeriac/peer for rates, peer/celeriac for costs). */
  ratios: Record<string, number>;
  note?: string;
}

export interface ScenarioReport {
  id: string;
  title: string;
  metrics: Metric[];
  rows: ResultRow[];
}
