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
  const millis = frac ? Math.floor(Number(frac.padEnd(3, '0').slice(0, 3))) : 0;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0), millis);
  if (Number.isNaN(ms)) return null;
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4));
    ms -= sign * offsetMin * 60_000;
  }
  // Reject impossible dates that Date.UTC silently rolls over (2026-02-31).
  const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1) return null;
  return ms;
}
