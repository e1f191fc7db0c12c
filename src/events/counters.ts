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
  /** worker -> type -> task name -> counter: no key string is built per event. */
  private readonly series = new Map<string, Map<string, Map<string, MutableCounter>>>();
  private size = 0;

  constructor(private readonly maxSeries: number) {}

  count(worker: string, type: string, task: string): void {
    const known = this.series.get(worker)?.get(type)?.get(task);
    if (known !== undefined) {
      known.count += 1;
      return;
    }
    if (this.size < this.maxSeries) this.add(worker, type, task);
    else {
      const overflow = this.series.get(OVERFLOW_WORKER)?.get(type)?.get(task);
      if (overflow !== undefined) overflow.count += 1;
      else this.add(OVERFLOW_WORKER, type, task);
    }
  }

  private add(worker: string, type: string, task: string): void {
    let byType = this.series.get(worker);
    if (byType === undefined)
      this.series.set(worker, (byType = new Map<string, Map<string, MutableCounter>>()));
    let byTask = byType.get(type);
    if (byTask === undefined) byType.set(type, (byTask = new Map<string, MutableCounter>()));
    byTask.set(task, { worker, type, task, count: 1 });
    this.size += 1;
  }

  list(): EventCounter[] {
    const out: EventCounter[] = [];
    for (const byType of this.series.values()) {
      for (const byTask of byType.values()) for (const counter of byTask.values()) out.push({ ...counter });
    }
    return out;
  }

  clear(): void {
    this.series.clear();
    this.size = 0;
  }
}
