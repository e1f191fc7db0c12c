/**
 * `celeriac events`: a live view of the workers and recent tasks, as `celery events` (redrawn in a terminal, plain
 * lines when stdout is not one), and `celeriac events --dump`, one line per event in the format of
 * `celery events --dump`. Both run until interrupted (Ctrl-C, SIGTERM).
 */
import type { Command } from 'commander';
import {
  DUMP_GREETING,
  EventDumper,
  EventsState,
  maskUrl,
  renderPlain,
  renderTop,
  type Celery,
} from '../../index.js';
import { useColor } from '../color.js';
import { loadApp } from '../load-app.js';
import { CliError, globalOptions } from '../main.js';

interface EventsFlags {
  dump?: boolean;
  freq: string;
  maxTasks?: string;
}

/** Resolves on the first SIGINT or SIGTERM. */
function interrupted(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function dump(app: Celery): Promise<void> {
  const dumper = new EventDumper();
  const receiver = app.events.receiver(
    { '*': (event) => void process.stdout.write(`${dumper.format(event)}\n`) },
    { wakeup: true },
  );
  await receiver.start();
  process.stdout.write(`${DUMP_GREETING}\n`);
  await interrupted();
  await receiver.stop();
}

async function live(app: Celery, freq: number, maxTasks: number, color: boolean): Promise<void> {
  const state = new EventsState({ maxTasks });
  const receiver = app.events.receiver({ '*': (event) => void state.receive(event) }, { wakeup: true });
  await receiver.start();
  const tty = process.stdout.isTTY;
  let shown = -1;
  const draw = (): void => {
    if (tty) {
      const screen = renderTop(state, {
        width: process.stdout.columns,
        height: process.stdout.rows,
        color,
        title: `celeriac events: ${maskUrl(app.conf.broker)}`,
      });
      // Home, then the screen over the old one, then clear what is left below.
      process.stdout.write(`\u001b[H${screen}\u001b[J`);
      return;
    }
    // Piped: the facts again only when something new came in.
    if (state.eventCount === shown) return;
    shown = state.eventCount;
    process.stdout.write(`${renderPlain(state).join('\n')}\n\n`);
  };
  if (tty) process.stdout.write('\u001b[?1049h\u001b[?25l');
  else process.stdout.write('-> celeriac events: live view, one summary each time events arrive\n');
  const timer = setInterval(draw, freq * 1000);
  draw();
  try {
    await interrupted();
  } finally {
    clearInterval(timer);
    if (tty) process.stdout.write('\u001b[?25h\u001b[?1049l');
    await receiver.stop();
  }
  if (!tty) draw();
}

function positive(flag: string, text: string, integer: boolean): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new CliError(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got "${text}"`, 2);
  }
  return value;
}

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('watch the events of workers and tasks: a live view, or --dump to print each event')
    .option('-d, --dump', "print one line per event, as Celery's `celery events --dump`")
    .option('-F, --freq <seconds>', 'how often the live view is redrawn', '1.0')
    .option('--max-tasks <n>', 'tasks the live view remembers', '10000')
    .action(async (flags: EventsFlags, command: Command) => {
      const freq = positive('--freq', flags.freq, false);
      const maxTasks = positive('--max-tasks', flags.maxTasks ?? '10000', true);
      const globals = globalOptions(command);
      const app = await loadApp(globals);
      try {
        if (flags.dump) await dump(app);
        else await live(app, freq, maxTasks, useColor(globals));
      } finally {
        await app.close();
      }
    });
}
