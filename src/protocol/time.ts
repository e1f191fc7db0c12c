/**
 * Timestamps as Celery writes them: message `eta`/`expires` are timezone-aware ISO-8601 with microseconds
 * (`2026-11-24T18:13:53.462291+00:00`); result `date_done` is naive UTC (`2026-11-24T18:14:08.752842`).
 */

function isoBase(ms: number): string {
  // toISOString gives `YYYY-MM-DDTHH:MM:SS.mmmZ`; Python prints microseconds.
  return new Date(ms).toISOString().slice(0, 23) + '000';
}

/** `2026-11-24T18:13:53.462000+00:00`, as Python's `datetime.isoformat()` for an aware UTC datetime. */
export function formatAwareIso(ms: number): string {
  return `${isoBase(ms)}+00:00`;
}

/** `2026-11-24T18:14:08.752000`, as Celery's `datetime.utcnow().isoformat()` for `date_done`. */
export function formatNaiveUtcIso(ms: number): string {
  return isoBase(ms);
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses an ISO-8601 timestamp into milliseconds since the epoch, or returns null when it is not one.
 * A timestamp without an offset is UTC (protocol v2 rule: `utc` is always true for v2 messages).
 */
export function parseIso(value: string): number | null {
  const m = ISO_RE.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const [year, month, day, hour, minute] = [Number(y), Number(mo), Number(d), Number(h), Number(mi)];
  const second = Number(s ?? 0);
  // celery/utils/iso8601.py builds `datetime(year, month, ...)`, which rejects out-of-range fields; Date.UTC
  // would roll them over (2026-02-31, 25:00) and maps years 0..99 to 1900..1999, so set the fields explicitly.
  if (year < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const millis = frac ? Math.floor(Number(frac.padEnd(3, '0').slice(0, 3))) : 0;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day)
    return null;
  date.setUTCHours(hour, minute, second, millis);
  let ms = date.getTime();
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4));
    ms -= sign * offsetMin * 60_000;
  }
  return ms;
}
