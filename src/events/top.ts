/**
 * The screen of `celeriac events`, a live view of workers and recent tasks after `celery events`
 * (celery/events/cursesmon.py): a task table (newest first by Lamport order, as Celery's `tasks_by_time`), the
 * workers with their status and load, and counters. Pure: it returns text for a given state, size and time; the
 * CLI redraws it in a TTY. `renderPlain` gives the same facts as plain lines for when stdout is not a terminal.
 */
import { States } from '../types.js';
import type { EventsState } from './state.js';
import type { TaskSnapshot } from './task-record.js';
import type { WorkerSnapshot } from './worker-record.js';

export interface TopOptions {
  /** Terminal columns and rows; the screen is exactly `height` lines, none longer than `width`. */
  readonly width: number;
  readonly height: number;
  /** Seconds since the epoch for `alive` (default: the state's clock). */
  readonly now?: number;
  /** Colour the state column with ANSI escapes (colours as Celery's curses monitor). */
  readonly color?: boolean;
  /** The first line (default `celeriac events`). */
  readonly title?: string;
}

const STATE_WIDTH = 8;
const TIME_WIDTH = 8;
const RUNTIME_WIDTH = 8;
const UUID_WIDTH = 36;
const MIN_UUID_WIDTH = 8;
const MIN_TASK_WIDTH = 16;
const MIN_ARGS_WIDTH = 8;
const MIN_WORKER_WIDTH = 15;
const MIN_WIDTH = 60;
const HEADER_LINES = 3;
const FOOTER_LINES = 4;

/** Celery's curses colours: green success, yellow started, red exception states (REVOKED included). */
const STATE_COLORS: Readonly<Record<string, string>> = {
  [States.SUCCESS]: '\u001b[32m',
  [States.STARTED]: '\u001b[33m',
  [States.FAILURE]: '\u001b[31m',
  [States.RETRY]: '\u001b[31m',
  [States.REVOKED]: '\u001b[31m',
};
const RESET = '\u001b[0m';

interface Columns {
  readonly uuid: number;
  readonly task: number;
  readonly args: number;
  readonly worker: number;
}

/** The whole screen as text: `height` lines joined by newlines. */
export function renderTop(state: EventsState, options: TopOptions): string {
  const { width, height } = options;
  if (width < MIN_WIDTH || height < HEADER_LINES + FOOTER_LINES + 1) {
    const note = `Terminal too small: ${width}x${height}, need at least ${MIN_WIDTH}x${HEADER_LINES + FOOTER_LINES + 1}`;
    return fit([abbr(note, width)], width, height).join('\n');
  }
  const now = options.now ?? state.time();
  const columns = layout(width);
  const rows = height - HEADER_LINES - FOOTER_LINES;
  const lines = [
    cut(options.title ?? 'celeriac events', width),
    '',
    cut(formatRow(columns, ['UUID', 'TASK', 'ARGS', 'WORKER', 'TIME', 'RUNTIME', 'STATE']).trimEnd(), width),
  ];
  const tasks = state.tasksByTime({ limit: rows });
  for (const task of tasks) lines.push(taskRow(task, columns, width, options.color === true));
  while (lines.length < HEADER_LINES + rows) lines.push('');
  lines.push('─'.repeat(width));
  lines.push(cut(`Workers: ${workersLine(state, now)}`, width));
  lines.push(cut(`States: ${statesLine(state)}`, width));
  lines.push(cut(`Info: ${infoLine(state, now)}`, width));
  return lines.join('\n');
}

/**
 * The same facts as plain lines, for a pipe or a log: a summary line, one line per worker, then the `limit`
 * most recent tasks (default 20), newest first. Nothing is cut or padded.
 */
export function renderPlain(state: EventsState, options: { now?: number; limit?: number } = {}): string[] {
  const now = options.now ?? state.time();
  const lines = [infoLine(state, now)];
  for (const worker of sortedWorkers(state)) lines.push(`worker ${workerText(worker, now)}`);
  for (const task of state.tasksByTime({ limit: options.limit ?? 20 })) {
    const parts = [
      `task ${task.uuid} ${task.state} ${task.name ?? '???'}`,
      `args=${task.args ?? ''}`,
      `kwargs=${task.kwargs ?? ''}`,
      `worker=${task.worker ?? task.client ?? ''}`,
    ];
    if (task.timestamp !== null) parts.push(`at=${clockTime(task.timestamp)}`);
    if (task.runtime !== null) parts.push(`runtime=${task.runtime.toFixed(3)}s`);
    if (task.result !== null) parts.push(`result=${task.result}`);
    if (task.exception !== null) parts.push(`exception=${task.exception}`);
    lines.push(parts.join(' '));
  }
  return lines;
}

/** Column widths: Celery's `format_row` arithmetic with an args column added. */
function layout(width: number): Columns {
  const fixed = STATE_WIDTH + 1 + TIME_WIDTH + 1 + RUNTIME_WIDTH + 1;
  const detail = width - fixed;
  const uuidSpace = detail - 3 - MIN_TASK_WIDTH - MIN_ARGS_WIDTH - MIN_WORKER_WIDTH - 1;
  const uuid = Math.max(MIN_UUID_WIDTH, Math.min(UUID_WIDTH, uuidSpace));
  const rest = detail - uuid - 1 - 3;
  const task = Math.max(MIN_TASK_WIDTH, Math.ceil(rest * 0.35));
  const worker = Math.max(MIN_WORKER_WIDTH, Math.floor(rest * 0.3));
  return { uuid, task, worker, args: Math.max(MIN_ARGS_WIDTH, rest - task - worker) };
}

function formatRow(columns: Columns, cells: readonly string[]): string {
  const [uuid = '', task = '', args = '', worker = '', time = '', runtime = '', state = ''] = cells;
  return [
    abbr(uuid, columns.uuid).padEnd(columns.uuid),
    abbrtask(task, columns.task).padEnd(columns.task),
    abbr(args, columns.args).padEnd(columns.args),
    abbr(worker, columns.worker).padEnd(columns.worker),
    time.padEnd(TIME_WIDTH),
    runtime.padStart(RUNTIME_WIDTH - 1).padEnd(RUNTIME_WIDTH),
    abbr(state, STATE_WIDTH).padEnd(STATE_WIDTH),
  ].join(' ');
}

function taskRow(task: TaskSnapshot, columns: Columns, width: number, color: boolean): string {
  const runtime = task.runtime === null ? '' : `${task.runtime.toFixed(3)}s`;
  const time = task.timestamp === null ? '' : clockTime(task.timestamp);
  const cells = [
    task.uuid,
    task.name ?? '???',
    task.args ?? '',
    task.worker ?? '*NONE*',
    time,
    runtime,
    task.state,
  ];
  const row = cut(formatRow(columns, cells).trimEnd(), width);
  const code = STATE_COLORS[task.state];
  if (!color || code === undefined || !row.endsWith(task.state)) return row;
  return `${row.slice(0, row.length - task.state.length)}${code}${task.state}${RESET}`;
}

function sortedWorkers(state: EventsState): WorkerSnapshot[] {
  return [...state.workers.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : 1));
}

function workerText(worker: WorkerSnapshot, now: number): string {
  const parts = [worker.hostname, worker.isAlive(now) ? 'ONLINE' : 'OFFLINE'];
  if (worker.active !== null) parts.push(`active=${worker.active}`);
  if (worker.processed !== null) parts.push(`processed=${worker.processed}`);
  if (worker.loadavg !== null) parts.push(`load=${worker.loadavg.map((l) => l.toFixed(2)).join(' ')}`);
  return parts.join(' ');
}

function workersLine(state: EventsState, now: number): string {
  const workers = sortedWorkers(state);
  return workers.length
    ? workers.map((worker) => workerText(worker, now)).join(' | ')
    : 'No workers discovered.';
}

function statesLine(state: EventsState): string {
  const counts = Object.entries(state.stateCounts()).sort(([a], [b]) => (a < b ? -1 : 1));
  return counts.length ? counts.map(([name, count]) => `${name}=${count}`).join(' ') : 'no tasks';
}

/** Celery's status line: `events: N tasks:N workers:alive/all`. */
function infoLine(state: EventsState, now: number): string {
  const alive = state.aliveWorkers(now).length;
  return `events: ${state.eventCount} tasks:${state.taskCount} workers:${alive}/${state.workers.size}`;
}

/** `HH:MM:SS` in UTC, as the curses monitor shows `utcfromtimestamp(task.timestamp)`. */
function clockTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(11, 19);
}

/** `celery.utils.text.abbr`: cut to `max` with `...`. */
function abbr(text: string, max: number): string {
  if (text.length <= max) return text;
  return max <= 3 ? text.slice(0, max) : `${text.slice(0, max - 3)}...`;
}

/** `abbrtask`: shorten the module part of a dotted task name, keeping the last part (`proj.ta[.]add`). */
function abbrtask(name: string, max: number): string {
  if (name.length <= max) return name;
  const dot = name.lastIndexOf('.');
  const last = name.slice(dot + 1);
  const module = name.slice(0, Math.max(dot, 0)).slice(0, Math.max(max - last.length - 3, 0));
  return abbr(`${module}[.]${last}`, max);
}

function cut(line: string, width: number): string {
  return line.length > width ? line.slice(0, width) : line;
}

function fit(lines: string[], width: number, height: number): string[] {
  const out = lines.slice(0, height).map((line) => cut(line, width));
  while (out.length < height) out.push('');
  return out;
}
