/**
 * Wall-clock time in an IANA time zone, on top of `Intl` (Node's ICU time-zone database): no hand-written offsets
 * and no dependency. Crontabs are evaluated on the wall clock of a zone, so they need both directions: the wall
 * time of an instant, and the instant(s) of a wall time, which may be none (the hour skipped when clocks spring
 * forward) or two (the hour repeated when they fall back).
 */
import { ImproperlyConfigured } from '../../errors.js';

export interface WallTime {
  readonly year: number;
  /** 1-12. */
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** 0-6, Sunday = 0, as Celery counts them. */
  readonly weekday: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The wall time as if it were UTC, in milliseconds: the arithmetic on wall times is done on this number. */
export function wallMs(wall: Omit<WallTime, 'weekday'>): number {
  return Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
}

/** The calendar fields of `wallMs`'s number (the inverse of `wallMs`). */
export function wallOf(ms: number): WallTime {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
  };
}

/** True when `name` is a time zone this Node.js knows (IANA names such as "Europe/Paris", or "UTC"). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Checks a time zone name, failing with the setting's name and what to write instead. */
export function checkTimeZone(name: unknown, setting: string): string {
  if (typeof name !== 'string' || name === '' || !isTimeZone(name)) {
    throw new ImproperlyConfigured(
      `${setting} ${JSON.stringify(name)} is not a known time zone: use an IANA name such as "UTC", ` +
        '"Europe/Paris" or "America/New_York"',
    );
  }
  return name;
}

/** The system's own time zone (Celery's `timezone.local`, used when `timezone` is unset and `enableUtc` is off). */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

const zones = new Map<string, Zone>();

/** A time zone, with its wall-clock conversions. Instances are shared per name. */
export class Zone {
  private readonly format: Intl.DateTimeFormat | null;
  /** False for UTC, whose wall clock never jumps. */
  readonly hasTransitions: boolean;

  private constructor(readonly name: string) {
    const utc = name === 'UTC' || name === 'Etc/UTC' || name === 'GMT';
    this.format = utc
      ? null
      : new Intl.DateTimeFormat('en-US', {
          timeZone: name,
          hourCycle: 'h23',
          year: 'numeric',
          month: 'numeric',
          day: 'numeric',
          hour: 'numeric',
          minute: 'numeric',
          second: 'numeric',
        });
    this.hasTransitions = !utc;
  }

  static of(name: string): Zone {
    let zone = zones.get(name);
    if (!zone) {
      zone = new Zone(checkTimeZone(name, 'time zone'));
      zones.set(name, zone);
    }
    return zone;
  }

  /** The wall time of an instant (milliseconds since the epoch). */
  wall(ms: number): WallTime {
    return wallOf(ms + this.offset(ms));
  }

  /** Milliseconds to add to an instant to get its wall time (+3,600,000 for Paris in winter). */
  offset(ms: number): number {
    if (!this.format) return 0;
    const seconds = Math.floor(ms / 1000) * 1000;
    const fields: Record<string, number> = {};
    for (const part of this.format.formatToParts(seconds)) {
      if (part.type !== 'literal') fields[part.type] = Number(part.value);
    }
    const asUtc = Date.UTC(
      fields.year!,
      fields.month! - 1,
      fields.day,
      fields.hour,
      fields.minute,
      fields.second,
    );
    return asUtc - seconds;
  }

  /**
   * Every instant whose wall time is `wall` (a `wallMs` number), earliest first: one normally, none in a gap
   * (spring forward), two in a repeated hour (fall back).
   */
  instants(wall: number): number[] {
    if (!this.format) return [wall];
    // The offsets in force around that wall time: a transition is never closer than a day to another one.
    const offsets = new Set([
      this.offset(wall - 18 * HOUR),
      this.offset(wall),
      this.offset(wall + 18 * HOUR),
    ]);
    const found = new Set<number>();
    for (const offset of offsets) {
      const ms = wall - offset;
      if (this.offset(ms) === offset) found.add(ms);
    }
    return [...found].sort((a, b) => a - b);
  }

  /**
   * The first instant whose wall time is `wall` or, when `wall` falls in a gap, the first instant after the gap
   * (the moment the clocks jumped): "02:30 on a spring-forward day" is 03:00, the first valid time.
   */
  firstInstant(wall: number): number {
    const found = this.instants(wall);
    if (found.length > 0) return found[0]!;
    // In a gap: the offset before the gap maps `wall` past the transition; the one after maps it before.
    let lo = wall - this.offset(wall + 18 * HOUR);
    let hi = wall - this.offset(wall - 18 * HOUR);
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2 / 1000) * 1000;
      if (this.offset(mid) === this.offset(hi)) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /** True when `ms` is the second occurrence of its wall time (in the hour repeated when clocks fall back). */
  isRepeat(ms: number): boolean {
    if (!this.format) return false;
    const found = this.instants(ms + this.offset(ms));
    return found.length > 1 && found[0]! < ms;
  }
}
