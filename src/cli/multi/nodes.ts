/**
 * `celeriac multi` argument parsing and node building, as `celery/apps/multi.py` does it:
 * - names (`w1 w2`, `w1@%h`) or a count (`3` -> celery1, celery2, celery3, prefix `--range-prefix`);
 * - options for every node (`-c 3`, `--pidfile=%n.pid`), or for some (`-c:w1 5`, `-c:1-2 5`, `-c:1,3 5`);
 * - short options take the next argument as value unless it starts with `-`; so do the long options known to take
 *   a value (`--pidfile /x`, where Celery would make `/x` a node name); other long ones only as `--opt=value`;
 * - `--` passes the rest through to every worker.
 * Each node gets `-n <nodename>`, `--pidfile` (default `%n.pid`) and `--logfile` (default `%n%I.log`), expanded
 * here with `%n` the node's name, `%h` the whole node name, `%d` its host; `%i`/`%I` are left for the worker.
 * Celery 5.2 defaults to /var/run/celery and /var/log/celery; Celeriac keeps its documented default, the current
 * directory, which needs no root.
 */
import { hostname as osHostname } from 'node:os';
import { hostFormat, nodesplit } from '../../index.js';

/** Long options of `multi` and `worker` that take a value, so `--pidfile /x` is not read as a node named `/x`. */
const VALUE_OPTIONS = new Set([
  '--app',
  '--broker',
  '--result-backend',
  '--workdir',
  '--pidfile',
  '--logfile',
  '--hostname',
  '--queues',
  '--exclude-queues',
  '--include',
  '--concurrency',
  '--loglevel',
  '--log-format',
  '--pool',
  '--autoscale',
  '--prefetch-multiplier',
  '--shutdown-timeout',
  '--max-tasks-per-child',
  '--max-memory-per-child',
  '--time-limit',
  '--soft-time-limit',
  '--schedule',
  '--prefix',
  '--suffix',
  '--range-prefix',
  '--cmd',
]);

function takesValue(option: string): boolean {
  const colon = option.indexOf(':');
  return VALUE_OPTIONS.has(colon === -1 ? option : option.slice(0, colon));
}

export class NamespacedOptions {
  /** Options for every node, in order (`-c` -> `3`; a flag without value -> null). */
  readonly options = new Map<string, string | null>();
  /** Options for some nodes, by namespace (a node name, an index, or a range/list of them). */
  readonly namespaces = new Map<string, Map<string, string | null>>();
  readonly values: string[] = [];
  passthrough: string[] = [];

  constructor(readonly args: readonly string[]) {
    const rargs = args.filter((arg) => arg !== '');
    for (let pos = 0; pos < rargs.length; pos++) {
      const arg = rargs[pos]!;
      if (arg === '--') {
        this.passthrough = rargs.slice(pos + 1);
        break;
      }
      if (arg.startsWith('--')) {
        const eq = arg.indexOf('=');
        const next = rargs[pos + 1];
        if (eq === -1 && takesValue(arg) && next !== undefined && !next.startsWith('-')) {
          this.add(arg, next);
          pos++;
        } else {
          this.add(eq === -1 ? arg : arg.slice(0, eq), eq === -1 ? null : arg.slice(eq + 1));
        }
      } else if (arg.startsWith('-') && arg.length > 1) {
        const next = rargs[pos + 1];
        const value = next !== undefined && !next.startsWith('-') ? next : null;
        if (value !== null) pos++;
        this.add(arg, value);
      } else {
        this.values.push(arg);
      }
    }
  }

  private add(option: string, value: string | null): void {
    const colon = option.indexOf(':');
    if (colon === -1) {
      this.options.set(option, value);
      return;
    }
    const ns = option.slice(colon + 1);
    const map = this.namespaces.get(ns) ?? new Map<string, string | null>();
    map.set(option.slice(0, colon), value);
    this.namespaces.set(ns, map);
  }

  /** The options of a namespace over the common ones. */
  merged(ns: string): Map<string, string | null> {
    return new Map([...this.options, ...(this.namespaces.get(ns) ?? [])]);
  }
}

export interface MultiNode {
  /** Full node name, `w1@host`. */
  readonly name: string;
  readonly options: ReadonlyMap<string, string | null>;
  readonly pidfile: string;
  readonly logfile: string;
  /** Arguments of `celeriac worker` for this node (after the global ones), templates expanded. */
  readonly argv: readonly string[];
  /** `-A`, `-b`, `--result-backend`: placed before `worker`, as Celery places them. */
  readonly globalArgv: readonly string[];
  /** Expands a template for this node (`multi expand`). */
  expand(template: string): string;
}

const GLOBAL_OPTIONS = new Set(['-A', '--app', '-b', '--broker', '--result-backend']);

function formatOption(option: string, value: string | null): string[] {
  if (value === null || value === '') return [option];
  return option.startsWith('--') ? [`${option}=${value}`] : [option, value];
}

/** Celery's `build_nodename`: `[namespace, nodename]`. */
function buildNodename(name: string, prefix: string, suffix: string): [string, string] {
  if (name.includes('@')) {
    const nodename = hostFormat(name);
    return [nodesplit(nodename)[0] ?? name, nodename];
  }
  return [name, hostFormat(`${prefix}${name}@${suffix}`)];
}

/** Celery's `build_expander`: in multi, `%h` is the whole node name; `%i` and `%I` are left for the worker. */
function expander(nodename: string): (template: string) => string {
  const [name, host] = nodesplit(nodename);
  const short = name ?? 'celery';
  return (template) =>
    hostFormat(template, {
      host,
      name: short,
      extra: { h: nodename, n: short, N: short, d: host, p: nodename, i: '%i', I: '%I' },
    });
}

function defaultOption(options: Map<string, string | null>, alternatives: string[], value: string): string {
  for (const option of alternatives.slice(1)) {
    const given = options.get(option);
    if (given) return given;
  }
  const given = options.get(alternatives[0]!);
  if (given) return given;
  options.set(alternatives[0]!, value);
  return value;
}

/** The nodes named on the command line (`multi start w1 w2 -c 3 ...`). */
export function parseNodes(args: readonly string[], globalArgv: readonly string[] = []): MultiNode[] {
  const p = new NamespacedOptions(args);
  const options = new Map(p.options);
  const take = (...names: string[]): string | null => {
    for (const name of names) {
      if (options.has(name)) {
        const value = options.get(name) ?? null;
        options.delete(name);
        return value;
      }
    }
    return null;
  };
  const hostname = take('--hostname', '-n') ?? osHostname();
  let prefix = take('--prefix') ?? '';
  const suffixOption = take('--suffix');
  const suffix = suffixOption === '""' || suffixOption === "''" ? '' : (suffixOption ?? hostname);
  const rangePrefix = take('--range-prefix') || 'celery';
  let names = p.values;
  if (names.length === 1 && /^\d+$/.test(names[0]!)) {
    names = Array.from({ length: Number(names[0]) }, (_, i) => String(i + 1));
    prefix = rangePrefix;
  }
  expandNamespaces(p, names, names !== p.values);
  return names.map((name) => {
    const [namespace, nodename] = buildNodename(name, prefix, suffix);
    const ns = p.namespaces.has(nodename) ? nodename : namespace;
    const merged = new Map([...options, ...(p.namespaces.get(ns) ?? [])]);
    return buildNode(nodename, merged, globalArgv, p.passthrough);
  });
}

/** Index namespaces (`-c:1`) apply to the node at that position; ranges and lists to each member. */
function expandNamespaces(p: NamespacedOptions, names: readonly string[], ranges: boolean): void {
  for (const [ns, opts] of [...p.namespaces]) {
    if (!ns.includes(',') && !(ranges && ns.includes('-'))) continue;
    p.namespaces.delete(ns);
    for (const part of ns.split(',')) {
      const [start, stop] = part.split('-');
      const members =
        ranges && stop !== undefined
          ? Array.from({ length: Number(stop) - Number(start) + 1 }, (_, i) => String(Number(start) + i))
          : [part];
      for (const member of members) {
        p.namespaces.set(member, new Map([...(p.namespaces.get(member) ?? []), ...opts]));
      }
    }
  }
  for (const [ns, opts] of [...p.namespaces]) {
    if (!/^\d+$/.test(ns)) continue;
    const name = names[Number(ns) - 1];
    if (Number(ns) < 1 || name === undefined) throw new Error(`No node at index ${ns}`);
    p.namespaces.set(name, new Map([...(p.namespaces.get(name) ?? []), ...opts]));
  }
}

function buildNode(
  nodename: string,
  options: Map<string, string | null>,
  globalArgv: readonly string[],
  passthrough: readonly string[],
): MultiNode {
  const expand = expander(nodename);
  options.set('-n', nodename);
  // The worker knows these by their long names only.
  for (const [short, long] of [
    ['-p', '--pidfile'],
    ['-f', '--logfile'],
  ] as const) {
    if (options.has(short)) {
      options.set(long, options.get(short) ?? null);
      options.delete(short);
    }
  }
  const pidfile = expand(defaultOption(options, ['--pidfile', '-p'], '%n.pid'));
  const logfile = expand(defaultOption(options, ['--logfile', '-f'], '%n%I.log'));
  const globals = [...globalArgv];
  const argv: string[] = [];
  for (const [option, value] of options) {
    const expanded = value === null ? null : expand(value);
    if (GLOBAL_OPTIONS.has(option)) globals.push(...formatOption(option, expanded));
    else argv.push(...formatOption(option, expanded));
  }
  return {
    name: nodename,
    options,
    pidfile,
    logfile,
    argv: [...argv, ...passthrough],
    globalArgv: globals,
    expand,
  };
}
