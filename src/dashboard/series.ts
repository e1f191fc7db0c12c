/**
 * Small time series for the plots: succeeded/failed per second, runtimes per task name (for percentiles) and
 * queue depths, each in a fixed-size ring so that a dashboard left open for a week uses the same memory as one
 * started a minute ago.
 */

/** Counts per whole second, the last `seconds` seconds. */
export class RateSeries {
  private readonly buckets = new Map<number, { succeeded: number; failed: number }>();

  constructor(private readonly seconds = 300) {}

  add(kind: 'succeeded' | 'failed', at: number): void {
    const second = Math.floor(at);
    let bucket = this.buckets.get(second);
    if (bucket === undefined) {
      this.buckets.set(second, (bucket = { succeeded: 0, failed: 0 }));
      this.trim(second);
    }
    bucket[kind] += 1;
  }

  private trim(latest: number): void {
    for (const second of this.buckets.keys()) {
      if (second <= latest - this.seconds) this.buckets.delete(second);
    }
  }

  /** One point per second from `now - seconds` to `now`, zeros where nothing happened. */
  points(now: number): { t: number; succeeded: number; failed: number }[] {
    const end = Math.floor(now);
    const out: { t: number; succeeded: number; failed: number }[] = [];
    for (let t = end - this.seconds + 1; t <= end; t += 1) {
      const bucket = this.buckets.get(t);
      out.push({ t, succeeded: bucket?.succeeded ?? 0, failed: bucket?.failed ?? 0 });
    }
    return out;
  }
}

/** The last `size` runtimes per task name; percentiles by sorting a copy (a few hundred values). */
export class RuntimeSamples {
  private readonly samples = new Map<string, { values: number[]; next: number }>();

  constructor(
    private readonly size = 500,
    private readonly maxNames = 500,
  ) {}

  add(name: string, runtime: number): void {
    let ring = this.samples.get(name);
    if (ring === undefined) {
      if (this.samples.size >= this.maxNames) return;
      this.samples.set(name, (ring = { values: [], next: 0 }));
    }
    if (ring.values.length < this.size) ring.values.push(runtime);
    else ring.values[ring.next] = runtime;
    ring.next = (ring.next + 1) % this.size;
  }

  percentiles(): { name: string; count: number; p50: number; p90: number; p99: number; max: number }[] {
    return [...this.samples.entries()]
      .map(([name, { values }]) => {
        const sorted = [...values].sort((a, b) => a - b);
        const at = (q: number): number =>
          sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
        return {
          name,
          count: sorted.length,
          p50: at(0.5),
          p90: at(0.9),
          p99: at(0.99),
          max: sorted.at(-1) ?? 0,
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}

/** Queue depth samples: the last `size` samples of every queue. */
export class QueueSeries {
  private readonly samples: { t: number; lengths: Record<string, number> }[] = [];

  constructor(private readonly size = 300) {}

  add(t: number, lengths: Record<string, number>): void {
    this.samples.push({ t, lengths });
    if (this.samples.length > this.size) this.samples.shift();
  }

  latest(): Record<string, number> {
    return this.samples.at(-1)?.lengths ?? {};
  }

  points(): readonly { t: number; lengths: Record<string, number> }[] {
    return this.samples;
  }
}
