/**
 * `celeriac multi start|stop|stopwait|restart|kill|names|show|get|expand`: several named workers, each detached
 * with its own pid and log files (Celery's `celery multi`, `celery/bin/multi.py`). Nodes are named on the command
 * line; options follow Celery's syntax, including per-node ones (`-c:w1 5`):
 *
 *     celeriac multi start w1 w2 -A ./tasks.ts -P prefork -c 4 -l info
 *     celeriac multi stopwait w1 w2
 *
 * Pid and log files default to `%n.pid` and `%n%I.log` in the current directory; `stop` and friends must be given
 * the same `--pidfile` as `start` (nothing is persisted elsewhere, as in Celery).
 */
import type { Command } from 'commander';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { killNodes, nodeCommand, startNode, startNodes, stopNodes, type Say } from '../multi/cluster.js';
import { NamespacedOptions, parseNodes, type MultiNode } from '../multi/nodes.js';
import { CliError, globalOptions } from '../main.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

const USAGE = `usage: celeriac multi start <node1 node2 nodeN|range> [worker options]
       celeriac multi stop <n1 n2 nN|range> [-SIG (default: -TERM)]
       celeriac multi stopwait <n1 n2 nN|range> [-SIG (default: -TERM)]
       celeriac multi restart <n1 n2 nN|range> [-SIG] [worker options]
       celeriac multi kill <n1 n2 nN|range>

       celeriac multi show <n1 n2 nN|range> [worker options]
       celeriac multi get hostname <n1 n2 nN|range> [worker options]
       celeriac multi names <n1 n2 nN|range>
       celeriac multi expand template <n1 n2 nN|range>

additional options (must appear after command name):

    * --nosplash:   Don't display program info.
    * --quiet:      Don't show as much output.
    * --verbose:    Show more output.`;

interface Output {
  say: Say;
  note: Say;
  verbose: boolean;
}

/** Celery's `_find_sig_argument`: the last `-9` or `-KILL`/`-SIGKILL` among the options. */
export function findSignal(args: readonly string[], fallback: NodeJS.Signals = 'SIGTERM'): NodeJS.Signals {
  const p = new NamespacedOptions(args);
  const options = args.slice(p.values.length);
  const byNumber = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
  for (const arg of [...options].reverse()) {
    if (!arg.startsWith('-') || arg.startsWith('--')) continue;
    const text = arg.slice(1).toUpperCase();
    if (/^\d+$/.test(text) && byNumber.has(Number(text))) return byNumber.get(Number(text))!;
    const name = text.startsWith('SIG') ? text : `SIG${text}`;
    if (name in constants.signals) return name as NodeJS.Signals;
  }
  return fallback;
}

/** The global options (`-A`, `-b`, `--result-backend`) commander took, given back to each node. */
function globalArgv(command: Command): string[] {
  const globals = globalOptions(command);
  return [
    ...(globals.app ? ['-A', globals.app] : []),
    ...(globals.broker ? ['-b', globals.broker] : []),
    ...(globals.resultBackend ? ['--result-backend', globals.resultBackend] : []),
  ];
}

/** Signal arguments (`-KILL`, `-9`) are not worker options: leave them out of the nodes' command lines. */
function withoutSignals(args: readonly string[]): string[] {
  return args.filter((arg) => !/^-(\d+|(SIG)?[A-Z]{3,})$/.test(arg));
}

async function runMulti(action: string, args: string[], command: Command, out: Output): Promise<number> {
  const globals = globalArgv(command);
  const nodes = (): MultiNode[] => parseNodes(withoutSignals(args), globals);
  const splash = (): void => out.note(`celeriac multi v${pkg.version}`);
  switch (action) {
    case 'start':
      splash();
      return startNodes(nodes(), out.verbose, out.note);
    case 'stop':
    case 'stopwait':
      splash();
      await stopNodes(nodes(), findSignal(args), out.note, { wait: action === 'stopwait' });
      return 0;
    case 'restart': {
      splash();
      let failed = false;
      await stopNodes(nodes(), findSignal(args), out.note, {
        wait: true,
        onDown: async (node) => {
          out.note(`> Restarting node ${node.name}: `, false);
          const code = await startNode(node, out.verbose, out.note);
          out.note(code === 0 ? 'OK' : 'FAILED');
          failed ||= code !== 0;
        },
      });
      return failed ? 1 : 0;
    }
    case 'kill':
      splash();
      killNodes(nodes(), out.note);
      return 0;
    case 'names':
      out.say(
        nodes()
          .map((n) => n.name)
          .join('\n'),
      );
      return 0;
    case 'show':
      out.say(
        nodes()
          .map((n) => nodeCommand(n).join(' '))
          .join('\n'),
      );
      return 0;
    case 'get': {
      const [wanted, ...rest] = args;
      const node = parseNodes(withoutSignals(rest), globals).find((n) => n.name === wanted);
      if (!node) return 1;
      out.say([...node.globalArgv, 'worker', '--detach', ...node.argv].join(' '));
      return 0;
    }
    case 'expand': {
      const [template = '', ...rest] = args;
      out.say(
        parseNodes(withoutSignals(rest), globals)
          .map((n) => n.expand(template))
          .join('\n'),
      );
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      out.say(USAGE);
      return 0;
    default:
      throw new CliError(`Invalid command: ${action}\n${USAGE}`, 1);
  }
}

export function registerMulti(program: Command): void {
  program
    .command('multi')
    .description('start, stop and restart several named workers in the background')
    .argument('<command>', 'start, stop, stopwait, restart, kill, names, show, get, expand or help')
    .argument('[args...]', 'node names (or a count) and worker options')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (action: string, rawArgs: string[], _flags: unknown, command: Command) => {
      const args = [...rawArgs];
      const flag = (name: string): boolean => {
        const at = args.indexOf(name);
        if (at !== -1) args.splice(at, 1);
        return at !== -1;
      };
      const nosplash = flag('--nosplash');
      const quiet = flag('--quiet') || flag('-q');
      const verbose = flag('--verbose');
      const say: Say = (line, newline = true) => process.stdout.write(newline ? `${line}\n` : line);
      const out: Output = {
        say,
        note: (line, newline) => {
          if (quiet) return;
          if (nosplash && line.startsWith('celeriac multi v')) return;
          say(line, newline);
        },
        verbose,
      };
      process.exitCode = await runMulti(action, args, command, out);
    });
}
