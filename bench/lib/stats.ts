/** Small statistics for the benchmark: medians over repetitions, percentiles over latency samples. */
import type { Better, Figure } from './types.js';

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

export function figure(samples: readonly number[]): Figure {
  return {
    median: percentile(samples, 50),
    min: Math.min(...samples),
    max: Math.max(...samples),
    samples: [...samples],
  };
}

/** How many times better `celeriac` is than `peer`: above 1 means Celeriac wins. */
export function advantage(celeriac: number, peer: number, better: Better): number {
  if (!(celeriac > 0) || !(peer > 0)) return Number.NaN;
  return better === 'higher' ? celeriac / peer : peer / celeriac;
}
