/**
 * `get({ timeout, interval })` take seconds, as Celery and every other duration of the public API. Before 0.2 they
 * took milliseconds; a value that only makes sense as milliseconds (1000 s or more) is most likely such a call, so
 * it is warned about once per process (code `CELERIAC_SECONDS`) instead of silently waiting 16 minutes or more.
 */
const warned = new Set<string>();

/** Converts a seconds option to milliseconds for the backends; undefined stays undefined. */
export function secondsToMs(name: 'timeout' | 'interval', seconds: number | undefined): number | undefined {
  if (seconds === undefined) return undefined;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError(`get(): ${name} must be a number of seconds >= 0, got ${String(seconds)}`);
  }
  if (seconds >= 1000 && !warned.has(name)) {
    warned.add(name);
    process.emitWarning(
      `get(): ${name} is in seconds (as Celery), and ${seconds} s is over 16 minutes. ` +
        `If you meant milliseconds, pass ${seconds / 1000}.`,
      { code: 'CELERIAC_SECONDS' },
    );
  }
  return seconds * 1000;
}
