/**
 * Per-task rate limits, per worker, as Celery: a token bucket of capacity 1 per task name
 * (`kombu/utils/limits.py TokenBucket`, `celery/worker/consumer/consumer.py:287 _schedule_bucket_request`).
 * A request that finds no token waits in its task's queue here, on a timer, without taking a pool slot; requests
 * of other tasks go straight on, so a rate-limited task never slows an unlimited one behind it.
 */
import { ImproperlyConfigured } from '../errors.js';

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };

/**
 * Tasks per second for a rate (`celery/utils/time.py:206 rate`): `"10/s"`, `"100/m"`, `"5/h"`, a bare number
 * (per second), or null/0/"" for no limit (returns 0).
 */
export function parseRate(rate: string | number | null | undefined): number {
  if (rate === null || rate === undefined || rate === '' || rate === 0) return 0;
  if (typeof rate === 'number') {
    if (!Number.isFinite(rate) || rate < 0) throw invalidRate(rate);
    return rate;
  }
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:\/\s*([smh]))?\s*$/.exec(rate);
  if (!match) throw invalidRate(rate);
  return Number(match[1]) / UNITS[match[2] ?? 's']!;
}

function invalidRate(rate: unknown): ImproperlyConfigured {
  return new ImproperlyConfigured(
    `Invalid rate limit ${JSON.stringify(rate)}: use "10/s", "100/m", "5/h", a number of tasks per second, or null`,
  );
}

/** A token bucket (`kombu.utils.limits.TokenBucket`); time in milliseconds from an injectable clock. */
export class TokenBucket {
  private tokens: number;
  private timestamp: number;

  constructor(
    /** Tokens per second. */
    public fillRate: number,
    readonly capacity = 1,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = capacity;
    this.timestamp = now();
  }

  /** Takes `tokens` if the bucket has them (all or nothing). */
  canConsume(tokens = 1): boolean {
    if (tokens <= this.currentTokens()) {
      this.tokens -= tokens;
      return true;
    }
    return false;
  }

  /** Milliseconds until `tokens` are available. */
  expectedTime(tokens = 1): number {
    const available = this.currentTokens();
    return ((Math.max(tokens, available) - available) / this.fillRate) * 1000;
  }

  private currentTokens(): number {
    if (this.tokens < this.capacity) {
      const now = this.now();
      this.tokens = Math.min(this.capacity, this.tokens + (this.fillRate * (now - this.timestamp)) / 1000);
      this.timestamp = now;
    }
    return this.tokens;
  }
}

interface Limited<T> {
  readonly bucket: TokenBucket;
  readonly waiting: T[];
  timer: NodeJS.Timeout | undefined;
}

export interface RateLimiterOptions<T> {
  /** Called with each request that may run now. */
  readonly release: (item: T) => void;
  readonly now?: () => number;
}

/** Buckets by task name, each with the requests waiting for a token, in arrival order. */
export class RateLimiter<T> {
  private readonly limits = new Map<string, Limited<T>>();

  constructor(private readonly options: RateLimiterOptions<T>) {}

  /** Sets (or, with 0, removes) the limit of a task, in tasks per second. Waiting requests follow the new rate. */
  set(name: string, perSecond: number): void {
    const current = this.limits.get(name);
    if (perSecond <= 0) {
      if (!current) return;
      this.limits.delete(name);
      if (current.timer) clearTimeout(current.timer);
      for (const item of current.waiting.splice(0)) this.options.release(item);
      return;
    }
    if (current) {
      current.bucket.fillRate = perSecond;
      this.schedule(current);
      return;
    }
    this.limits.set(name, {
      bucket: new TokenBucket(perSecond, 1, this.options.now),
      waiting: [],
      timer: undefined,
    });
  }

  /** Whether a task has a limit. */
  has(name: string): boolean {
    return this.limits.has(name);
  }

  /**
   * Takes a request: returns true when it must wait (it will be released later), false when it may run now.
   * A request never overtakes an earlier one of the same task.
   */
  admit(name: string, item: T): boolean {
    const limited = this.limits.get(name);
    if (!limited) return false;
    if (limited.waiting.length === 0 && limited.bucket.canConsume(1)) return false;
    limited.waiting.push(item);
    this.schedule(limited);
    return true;
  }

  /** Requests waiting for a token, for every task. */
  get waiting(): number {
    let n = 0;
    for (const limited of this.limits.values()) n += limited.waiting.length;
    return n;
  }

  /** Removes and returns every waiting request (shutdown); their timers are cleared. */
  takeAll(): T[] {
    const out: T[] = [];
    for (const limited of this.limits.values()) {
      if (limited.timer) clearTimeout(limited.timer);
      limited.timer = undefined;
      out.push(...limited.waiting.splice(0));
    }
    return out;
  }

  /** Removes the waiting requests `drop` selects (their deliveries were lost); returns them. */
  remove(drop: (item: T) => boolean): T[] {
    const out: T[] = [];
    for (const limited of this.limits.values()) {
      for (let i = limited.waiting.length - 1; i >= 0; i--) {
        if (drop(limited.waiting[i]!)) out.push(...limited.waiting.splice(i, 1));
      }
    }
    return out;
  }

  /** Releases what the bucket allows now, then sleeps until the next token (Celery's `_schedule_bucket_request`). */
  private schedule(limited: Limited<T>): void {
    if (limited.timer) clearTimeout(limited.timer);
    limited.timer = undefined;
    while (limited.waiting.length > 0 && limited.bucket.canConsume(1)) {
      this.options.release(limited.waiting.shift()!);
    }
    if (limited.waiting.length === 0) return;
    const wait = Math.max(1, Math.ceil(limited.bucket.expectedTime(1)));
    limited.timer = setTimeout(() => this.schedule(limited), wait);
  }
}
