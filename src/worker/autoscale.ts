/**
 * `--autoscale max,min`, as `celery/worker/autoscale.py`: once a second, if more tasks are reserved than there are
 * processes, grow towards `max`; if fewer, and the last growth was more than `keepalive` ago, shrink towards `min`.
 */
import type { Logger } from '../lifecycle/logger.js';
import type { Service } from '../lifecycle/service.js';

export interface AutoscalerDeps {
  readonly logger: Logger;
  /** Current number of processes or threads. */
  processes(): number;
  /** Tasks reserved by the worker: running, waiting for a slot (Celery's `reserved_requests`). */
  qty(): number;
  grow(n: number): void;
  shrink(n: number): void;
}

/** Seconds after the last growth before the pool may shrink (Celery's AUTOSCALE_KEEPALIVE). */
export const AUTOSCALE_KEEPALIVE = 30;

export class Autoscaler implements Service {
  readonly name = 'autoscaler';
  private timer: NodeJS.Timeout | undefined;
  private lastScaleUp: number | null = null;

  constructor(
    public maxConcurrency: number,
    public minConcurrency: number,
    private readonly deps: AutoscalerDeps,
    private readonly keepaliveMs: number = AUTOSCALE_KEEPALIVE * 1000,
    private readonly intervalMs = 1000,
  ) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => this.maybeScale(), this.intervalMs);
    this.timer.unref();
  }

  /** Keeps scaling while the worker drains: with `--autoscale max,0` the tasks being finished may need children. */
  async drain(): Promise<void> {}

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Grows or shrinks once if the load calls for it; returns whether it did. */
  maybeScale(now: number = Date.now()): boolean {
    const procs = this.deps.processes();
    const qty = this.deps.qty();
    const up = Math.min(qty, this.maxConcurrency);
    if (up > procs) {
      this.scaleUp(up - procs, now);
      return true;
    }
    const down = Math.max(qty, this.minConcurrency);
    if (down < procs && this.lastScaleUp !== null && now - this.lastScaleUp > this.keepaliveMs) {
      this.deps.logger.info(`Scaling down ${procs - down} processes.`);
      this.deps.shrink(procs - down);
      return true;
    }
    return false;
  }

  /** Grows now, and keeps the new processes at least `keepalive` (remote `pool_grow` with an autoscaler). */
  scaleUp(n: number, now: number = Date.now()): void {
    this.lastScaleUp = now;
    this.deps.logger.info(`Scaling up ${n} processes.`);
    this.deps.grow(n);
  }

  /** Changes the bounds (remote `autoscale max min`), growing or shrinking at once when outside them. */
  update(max: number | null, min: number | null): [number, number] {
    const procs = this.deps.processes();
    if (max !== null) {
      if (max < procs) this.deps.shrink(procs - max);
      this.maxConcurrency = max;
    }
    if (min !== null) {
      if (min > procs) this.deps.grow(min - procs);
      this.minConcurrency = min;
    }
    return [this.maxConcurrency, this.minConcurrency];
  }

  info(): { max: number; min: number; current: number; qty: number } {
    return {
      max: this.maxConcurrency,
      min: this.minConcurrency,
      current: this.deps.processes(),
      qty: this.deps.qty(),
    };
  }
}
