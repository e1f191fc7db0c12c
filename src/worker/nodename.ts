/**
 * Node names and `%` templates as Celery builds them (`celery/utils/nodenames.py`, `celery/utils/text.py
 * simple_format`):
 * - `-n` values go through `defaultNodename` then `hostFormat`: `w1@%h` -> `w1@myhost.example.com`; a value
 *   without `@` is a host name, so `-n w1` gives `celery@w1` (Celery's quirk, kept for identical node names).
 * - pid and log file templates go through `nodeFormat` with the node name: `%n` is the name part (`w1`), `%h` the
 *   host part, `%d` its domain, `%p` the whole node name, `%i` the pool process index (`0` in the main process)
 *   and `%I` the same with a dash (`-1`, empty in the main process): `%n%I.log` -> `w1.log`.
 * An unknown `%x` is an error, as in Celery; `%%` stays as is.
 */
import { hostname as osHostname } from 'node:os';
import { ImproperlyConfigured } from '../errors.js';

const NODENAME_SEP = '@';
const NODENAME_DEFAULT = 'celery';

/** `[name, host]`; the name is null when there is no `@`. */
export function nodesplit(nodename: string): [string | null, string] {
  const at = nodename.indexOf(NODENAME_SEP);
  return at === -1 ? [null, nodename] : [nodename.slice(0, at), nodename.slice(at + 1)];
}

export type FormatKeys = Readonly<Record<string, string | (() => string)>>;

/** Replaces each `%x` by its key's value; unknown keys are an error naming the template. */
export function simpleFormat(template: string, keys: FormatKeys): string {
  return template.replace(/%(\w)/g, (_, key: string) => {
    const value = keys[key];
    if (value === undefined) {
      throw new ImproperlyConfigured(`Unknown format %${key} in string "${template}"`);
    }
    return typeof value === 'function' ? value() : value;
  });
}

/** `%i` and `%I` for a pool process index (1-based), or for the main process (null). */
export function indexKeys(index: number | null): { i: string; I: string } {
  return index ? { i: String(index), I: `-${index}` } : { i: '0', I: '' };
}

/** Celery's `host_format`: `%h` host, `%n` name (default: the short host name), `%d` domain, `%i`, `%I`. */
export function hostFormat(
  template: string,
  options: { host?: string; name?: string; index?: number | null; extra?: FormatKeys } = {},
): string {
  const host = options.host || osHostname();
  const dot = host.indexOf('.');
  const short = dot === -1 ? host : host.slice(0, dot);
  const domain = dot === -1 ? '' : host.slice(dot + 1);
  return simpleFormat(template, {
    h: host,
    n: options.name || short,
    d: domain,
    ...indexKeys(options.index ?? null),
    ...options.extra,
  });
}

/** Celery's `default_nodename`: fills in `celery` for a missing name and this host for a missing host. */
export function defaultNodename(value?: string | null): string {
  const [name, host] = nodesplit(value ?? '');
  return `${name || NODENAME_DEFAULT}${NODENAME_SEP}${host || osHostname()}`;
}

/** The node name for a `-n` value (`w1@%h`), or `celery@<host>` without one. */
export function expandNodename(value?: string | null): string {
  return hostFormat(defaultNodename(value));
}

/** Celery's `node_format`: expands a pid/log file template for a node (`%n%I.log` -> `w1.log`). */
export function nodeFormat(template: string, nodename: string, index: number | null = null): string {
  const [name, host] = nodesplit(nodename);
  return hostFormat(template, { host, name: name || NODENAME_DEFAULT, index, extra: { p: nodename } });
}
