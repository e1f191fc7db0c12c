/**
 * Event counts by worker, event type and task name: the labels of Flower's `flower_events_total`, which existing
 * Grafana dashboards read. Bounded: task-sent events carry the client's `gen<pid>@host`, so the number of
 * workers grows with every client process; past `maxSeries` distinct label sets, new ones are counted together
 * under worker `*` (type and task kept), so the total stays right and memory does not grow.
 */

export interface EventCounter {
  /** The event's hostname (a worker, or the client for task-sent), or `*` for series past the limit. */
  readonly worker: string;
  readonly type: string;
  /** The task's name for task events (empty while unknown), empty for other events. */
  readonly task: string;
  readonly count: number;
}

interface MutableCounter {
  readonly worker: string;
  readonly type: string;
  readonly task: string;
  count: number;
}

export const OVERFLOW_WORKER = '*';

export class EventCounters {
  private readonly series = new Map<string, MutableCounter>();

  constructor(private readonly maxSeries: number) {}

  count(worker: string, type: string, task: string): void {
    const key = `${worker}\u0000${type}\u0000${task}`;
    const known = this.series.get(key);
    if (known !== undefined) {
      known.count += 1;
      return;
    }
    if (this.series.size < this.maxSeries) {
      this.series.set(key, { worker, type, task, count: 1 });
      return;
    }
    const overflowKey = `${OVERFLOW_WORKER}\u0000${type}\u0000${task}`;
    const overflow = this.series.get(overflowKey);
    if (overflow !== undefined) overflow.count += 1;
    else this.series.set(overflowKey, { worker: OVERFLOW_WORKER, type, task, count: 1 });
  }

  list(): EventCounter[] {
    return [...this.series.values()].map((counter) => ({ ...counter }));
  }

  clear(): void {
    this.series.clear();
  }
}
