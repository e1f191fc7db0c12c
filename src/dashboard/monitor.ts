/**
 * What the dashboard knows: the `EventsState` fed by the event receiver, the Prometheus metrics, the plot series,
 * the workers' inspect replies (Flower's `/api/workers` cache), queue depths sampled from the broker, and the
 * listeners of the live page (told at most every `notifyMs` that something changed).
 */
import { EventsState, type Celery, type JsonValue } from '../index.js';
import { DashboardMetrics } from './metrics.js';
import type { ControlPort, EventReceiverPort, EventsPort, Replies } from './ports.js';
import { QueueSeries, RateSeries, RuntimeSamples } from './series.js';
import type { EventStore } from './store.js';

export interface MonitorOptions {
  readonly app: Celery;
  readonly events?: EventsPort | undefined;
  readonly control?: ControlPort | undefined;
  /** Tasks kept in memory (and in the store), oldest first out. Default 10,000. */
  readonly maxTasks?: number;
  /** Where events are kept across restarts (`--persistent`). */
  readonly store?: EventStore | undefined;
  /** Seconds between queue depth samples (default 2; 0 = never). */
  readonly queueInterval?: number;
  /** Seconds inspect waits for replies (default 1). */
  readonly inspectTimeout?: number;
  /** Milliseconds between "changed" notifications to live pages (default 250). */
  readonly notifyMs?: number;
  readonly now?: () => number;
}

/** Flower's inspect methods, in its `Inspector.methods` order, with the reply key Flower uses. */
const INSPECT = [
  ['stats', 'stats'],
  ['active_queues', 'activeQueues'],
  ['registered', 'registered'],
  ['scheduled', 'scheduled'],
  ['active', 'active'],
  ['reserved', 'reserved'],
  ['revoked', 'revoked'],
  ['conf', 'conf'],
] as const;

export type ChangeListener = (summary: Record<string, JsonValue>) => void;

export class Monitor {
  readonly state: EventsState;
  readonly metrics: DashboardMetrics;
  readonly rates = new RateSeries();
  readonly runtimes = new RuntimeSamples();
  readonly queues = new QueueSeries();
  /** Flower's `application.workers`: node name -> { stats, active_queues, registered, ..., timestamp }. */
  readonly workerInfo = new Map<string, Record<string, JsonValue>>();
  private readonly listeners = new Set<ChangeListener>();
  private receiver: EventReceiverPort | null = null;
  private queueTimer: NodeJS.Timeout | null = null;
  private notifyTimer: NodeJS.Timeout | null = null;
  private readonly knownQueues = new Set<string>();
  private sampling: Promise<void> | null = null;

  constructor(private readonly options: MonitorOptions) {
    this.state = new EventsState({
      maxTasks: options.maxTasks ?? 10_000,
      ...(options.now ? { now: options.now } : {}),
    });
    this.metrics = new DashboardMetrics(this.state, () => this.queues.latest());
    this.knownQueues.add(options.app.conf.taskDefaultQueue);
  }

  get app(): Celery {
    return this.options.app;
  }

  get control(): ControlPort | undefined {
    return this.options.control;
  }

  /** Replays the store, then subscribes to events and starts sampling queues. */
  async start(): Promise<void> {
    const store = this.options.store;
    if (store) {
      for (const event of store.load()) this.apply(event, false);
      this.state.eventCount = store.eventCount();
    }
    if (this.options.events) {
      this.receiver = this.options.events.receiver({ '*': (event) => this.receive(event) }, { wakeup: true });
      await this.receiver.start();
    }
    const interval = this.options.queueInterval ?? 2;
    if (interval > 0) {
      await this.sampleQueues();
      this.queueTimer = setInterval(() => void this.sampleQueues(), interval * 1000);
      this.queueTimer.unref();
    }
    if (this.options.control) void this.refreshWorkers().catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.queueTimer) clearInterval(this.queueTimer);
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    this.queueTimer = this.notifyTimer = null;
    await this.receiver?.stop();
    this.receiver = null;
    await this.sampling;
    this.options.store?.close();
  }

  /** One event from the receiver (a prepared event: `clock` and `local_received` set). */
  receive(event: Readonly<Record<string, JsonValue>>): void {
    this.apply(event, true);
  }

  private apply(event: Readonly<Record<string, JsonValue>>, fresh: boolean): void {
    const outcome = this.state.event(event);
    if (fresh) this.options.store?.add(event, outcome.kind === 'task' ? outcome.task.uuid : null);
    this.metrics.observe(event, this.state);
    if (outcome.kind === 'task') {
      const { task, subject } = outcome;
      const at = typeof event.timestamp === 'number' ? event.timestamp : this.state.time();
      if (subject === 'succeeded' || subject === 'failed') this.rates.add(subject, at);
      if (subject === 'succeeded' && task.runtime !== null && task.name)
        this.runtimes.add(task.name, task.runtime);
      if (task.queue) this.knownQueues.add(task.queue);
    } else if (outcome.kind === 'worker' && outcome.subject === 'online' && fresh && this.options.control) {
      void this.refreshWorkers(outcome.worker.hostname).catch(() => undefined);
    }
    if (fresh) this.changed();
  }

  /** Tells the live pages, at most once per `notifyMs`. */
  private changed(): void {
    if (this.notifyTimer !== null || this.listeners.size === 0) return;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = null;
      const summary = this.summary();
      for (const listener of this.listeners) listener(summary);
    }, this.options.notifyMs ?? 250);
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  summary(): Record<string, JsonValue> {
    const now = this.state.time();
    const workers = [...this.state.workers.values()];
    return {
      time: now,
      events: this.state.eventCount,
      tasks: this.state.tasks.size,
      states: this.state.stateCounts(),
      workers: workers.length,
      online: workers.filter((w) => w.isAlive(now)).length,
    };
  }

  /** Runs Flower's eight inspect commands (one worker, or all) and caches the replies. */
  async refreshWorkers(workername?: string): Promise<void> {
    const control = this.options.control;
    if (!control) throw new Error('remote control is not available, so workers cannot be inspected');
    const inspect = control.inspect({
      timeout: this.options.inspectTimeout ?? 1,
      ...(workername ? { destination: [workername] } : {}),
    });
    await Promise.all(
      INSPECT.map(async ([key, method]) => {
        let replies: Replies;
        try {
          replies = await inspect[method]();
        } catch {
          return;
        }
        for (const [node, reply] of Object.entries(replies ?? {})) {
          if (reply === null || reply === undefined) continue;
          let info = this.workerInfo.get(node);
          if (!info) this.workerInfo.set(node, (info = {}));
          info[key] = reply;
          info.timestamp = Date.now() / 1000;
          if (key === 'active_queues' && Array.isArray(reply)) {
            for (const queue of reply) {
              const name = (queue as { name?: unknown } | null)?.name;
              if (typeof name === 'string') this.knownQueues.add(name);
            }
          }
        }
      }),
    );
  }

  /** Queues worth sampling: the default one, those workers consume (inspect) and those tasks went to. */
  queueNames(): string[] {
    return [...this.knownQueues].sort();
  }

  /** Asks the broker for each known queue's depth (all priority levels), as Flower's `/api/queues/length`. */
  sampleQueues(): Promise<void> {
    this.sampling ??= (async () => {
      try {
        const broker = await this.app.getBroker();
        const lengths: Record<string, number> = {};
        for (const queue of this.queueNames()) {
          try {
            lengths[queue] = await broker.size(queue);
          } catch {
            // A queue that does not exist (yet) on RabbitMQ: not counted.
          }
        }
        this.queues.add(this.state.time(), lengths);
      } catch {
        // Broker unreachable: no sample this time; the next one tries again.
      } finally {
        this.sampling = null;
      }
    })();
    return this.sampling;
  }
}
