/**
 * `resultAcceptContent` on the backends that keep results as JSON at rest (memory, SQLite, Redis). Celery reads a
 * stored result through the result whitelist and refuses it when the backend's format is not on the list; so does
 * Celeriac, when the app reads one back. Storing is unaffected (a worker writes results it never reads). rpc://
 * checks each reply's content type itself; the database backend keeps Celery's pickled columns, which Celery reads
 * without the whitelist too (Celeriac's pickle reader only ever builds plain data). The guard exists only for such
 * a configuration: apps that accept JSON results get their backend untouched.
 */
import type { ResultBackend } from '../backends/backend.js';
import { ContentDisallowed } from '../errors.js';
import { urlScheme } from '../lifecycle/url.js';
import type { AcceptPolicy } from '../protocol/serializers/index.js';

/** Backends whose stored results are JSON. */
const JSON_AT_REST = new Set(['memory', 'sqlite', 'redis', 'rediss', 'sentinel']);

/** The reads of stored results, which a whitelist without JSON refuses. */
const READS = new Set<PropertyKey>(['get', 'waitFor', 'getGroup']);

function refusing(message: string): () => Promise<never> {
  return () => Promise.reject(new ContentDisallowed(message));
}

/** Every property of `target` as is (methods bound to it), but the reads in `reads` refused. */
function guard<T extends object>(target: T, reads: ReadonlySet<PropertyKey>, message: string): T {
  return new Proxy(target, {
    get(object, property) {
      if (reads.has(property)) return refusing(message);
      const value: unknown = Reflect.get(object, property, object);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}

/** The backend as the app uses it: unchanged, or with result reads refused when the whitelist lacks JSON. */
export function withResultAccept(
  backend: ResultBackend,
  url: string | null,
  accept: AcceptPolicy,
): ResultBackend {
  if (accept.accepts('json') || !url || url.startsWith('disabled')) return backend;
  const scheme = urlScheme(url, 'backend');
  if (!JSON_AT_REST.has(scheme)) return backend;
  const message =
    `Refusing to read results of the ${scheme} result backend, which stores them as json: ${accept.setting} ` +
    `is ${JSON.stringify(accept.accepted)}; add 'json' to resultAcceptContent`;
  const guarded = guard(backend, READS, message);
  const counter = backend.chordCounter;
  if (!counter) return guarded;
  const guardedCounter = guard(counter, new Set<PropertyKey>(['chordParts']), message);
  return new Proxy(guarded, {
    get: (object, property): unknown =>
      property === 'chordCounter' ? guardedCounter : (Reflect.get(object, property) as unknown),
  });
}
