/**
 * The worker's heartbeat, as Celery's `Heart` (celery/worker/heartbeat.py): `worker-online` once the worker
 * consumes, `worker-heartbeat` every `interval` seconds (2 by default, sent as `freq`), `worker-offline` when it
 * stops. Each carries what monitors show: tasks running (`active`), tasks accepted since start (`processed`,
 * Celery's `all_total_count`), the load average and the software (`sw_ident`, `sw_ver`, `sw_sys`). Monitors take a
 * worker for gone after `freq × 2` seconds without one.
 *
 * Started last and stopped first in the worker's ServiceList: a warm shutdown says `worker-offline` before it
 * waits for running tasks, as Celery's does.
 */
import { createRequire } from 'node:module';
import { loadavg, type as osType } from 'node:os';
import type { EventDispatcher } from '../events/dispatcher.js';
import type { Service } from '../lifecycle/service.js';
import type { JsonValue } from '../types.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Celery's `SOFTWARE_INFO`, for Celeriac: what Flower shows as the worker's software. */
export const SOFTWARE_INFO: Readonly<Record<'sw_ident' | 'sw_ver' | 'sw_sys', string>> = {
  sw_ident: 'celeriac',
  sw_ver: pkg.version,
  // Python's platform.system(): Linux, Darwin, Windows.
  sw_sys: osType() === 'Windows_NT' ? 'Windows' : osType(),
};

/** Celery's `load_average()`: the 1, 5 and 15 minute load, rounded to 2 decimals. */
export function loadAverage(): number[] {
  return loadavg().map((value) => Math.round(value * 100) / 100);
}

export interface HeartbeatOptions {
  readonly dispatcher: EventDispatcher;
  /** Seconds between heartbeats (Celery: 2). */
  readonly interval?: number;
  /** Tasks running now. */
  readonly active: () => number;
  /** Tasks accepted since the worker started. */
  readonly processed: () => number;
}

/** Heartbeats every 2 s by default. */
export const HEARTBEAT_INTERVAL = 2;

/** `freq` of a heartbeat sent on request (remote control `heartbeat`), as Celery sends it. */
const REQUESTED_FREQ = 5;

export class Heartbeat implements Service {
  readonly name = 'heartbeat';
  readonly interval: number;
  private timer: NodeJS.Timeout | undefined;
  private online = false;
  private offline: Promise<void> | undefined;

  constructor(private readonly options: HeartbeatOptions) {
    this.interval = options.interval ?? HEARTBEAT_INTERVAL;
    if (!(this.interval > 0)) {
      throw new RangeError(`Heartbeat interval must be a positive number of seconds, got ${this.interval}`);
    }
  }

  private fields(): Record<string, JsonValue> {
    return {
      freq: this.interval,
      active: this.options.active(),
      processed: this.options.processed(),
      loadavg: loadAverage(),
      ...SOFTWARE_INFO,
    };
  }

  /** Sends `worker-online`, then `worker-heartbeat` every interval. */
  async start(): Promise<void> {
    if (!this.options.dispatcher.enabled || this.online) return;
    this.online = true;
    await this.options.dispatcher.send('worker-online', this.fields());
    this.timer = setInterval(() => {
      void this.options.dispatcher.send('worker-heartbeat', this.fields());
    }, this.interval * 1000);
    this.timer.unref();
  }

  /**
   * A heartbeat now, as remote control's `heartbeat` asks (celery/worker/control.py): `freq` 5 and the software
   * fields only, as Celery sends it.
   */
  async sendNow(): Promise<void> {
    if (!this.options.dispatcher.enabled) return;
    await this.options.dispatcher.send('worker-heartbeat', { freq: REQUESTED_FREQ, ...SOFTWARE_INFO });
  }

  /**
   * Warm shutdown: stops the heartbeats and says `worker-offline` before the worker waits for its tasks. Does not
   * wait for the event to be published, so that the services after it stop fetching at once; `stop()` waits.
   */
  async drain(): Promise<void> {
    this.goOffline();
  }

  async stop(): Promise<void> {
    this.goOffline();
    await this.offline;
  }

  private goOffline(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (!this.online) return;
    this.online = false;
    this.offline = this.options.dispatcher.send('worker-offline', this.fields());
  }
}
