/**
 * EventsState at dashboard scale: N synthetic tasks (received, started, then succeeded or failed; a tenth get two
 * task-progress events), fed as prepared events; prints ingest time, heap after GC, and the time of filtered,
 * sorted pages of 50 and of a 120x40 live-view frame (median of 21 runs each). Not a test: numbers only. The
 * per-task strings (id, arguments) are made flat, as JSON-decoded events have them: built by template literals,
 * V8 keeps them as cons-strings of several objects, which would inflate the memory measured.
 *
 *   node --expose-gc --import tsx bench/events-state.ts [--tasks 100000]
 */
import { EventsState } from '../src/events/state.js';
import type { TaskQuery } from '../src/events/task-query.js';
import { renderTop } from '../src/events/top.js';

const argIndex = process.argv.indexOf('--tasks');
const TASKS = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 100_000;
const T0 = 1_700_000_000;
const NAMES = Array.from({ length: 20 }, (_, i) => `proj.tasks.job_${i}`);
const WORKERS = Array.from({ length: 8 }, (_, i) => `worker${i}@host`);

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function heapMb(): number {
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

/** A flat copy of a string, as JSON.parse gives (a template literal's result is a cons-string). */
function flat(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

function feed(state: EventsState): number {
  let events = 0;
  let clock = 0;
  const send = (fields: Record<string, string | number | boolean | null>) => {
    state.event({ utcoffset: 0, pid: 1234, clock: ++clock, ...fields });
    events += 1;
  };
  for (let i = 0; i < TASKS; i += 1) {
    const uuid = flat(`00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`);
    const hostname = WORKERS[i % WORKERS.length]!;
    const at = T0 + i * 0.01;
    const base = { uuid, hostname, local_received: at + 0.001 };
    const args = flat(`(${i}, 'customer-${i % 977}', {'region': 'eu-${i % 5}'})`);
    send({
      ...base,
      type: 'task-received',
      timestamp: at,
      name: NAMES[i % NAMES.length]!,
      args,
      kwargs: '{}',
    });
    send({ ...base, type: 'task-started', timestamp: at + 0.002 });
    if (i % 10 === 0) {
      send({ ...base, type: 'task-progress', timestamp: at + 0.003, current: 1, total: 2 });
      send({ ...base, type: 'task-progress', timestamp: at + 0.004, current: 2, total: 2 });
    }
    if (i % 17 === 0) {
      send({
        ...base,
        type: 'task-failed',
        timestamp: at + 0.005,
        exception: "KeyError('x')",
        traceback: 'Tb',
      });
    } else {
      send({
        ...base,
        type: 'task-succeeded',
        timestamp: at + 0.005,
        result: `${i}`,
        runtime: (i % 1000) / 1e4,
      });
    }
  }
  return events;
}

function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Wall and CPU milliseconds of one run (CPU: this process's user + system time, which other load does not inflate). */
function measure(run: () => unknown): { wall: number; cpu: number } {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  run();
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / 1000 };
}

function time(run: () => unknown, reps = 21): string {
  const runs = Array.from({ length: reps }, () => measure(run));
  const wall = median(runs.map((r) => r.wall));
  const cpu = median(runs.map((r) => r.cpu));
  return `${wall.toFixed(2).padStart(7)} ms wall ${cpu.toFixed(1).padStart(6)} ms cpu`;
}

const before = heapMb();
const state = new EventsState({ maxTasks: TASKS, now: () => T0 + TASKS * 0.01 });
let events = 0;
const ingest = measure(() => (events = feed(state)));
const heap = heapMb() - before;

const mid = T0 + TASKS * 0.005;
const queries: [string, TaskQuery][] = [
  ['newest 50, no filter', {}],
  ['FAILURE, newest 50', { state: 'FAILURE' }],
  ['one name, by runtime desc', { name: NAMES[3]!, sortBy: 'runtime' }],
  ['one worker + SUCCESS, page 20', { worker: WORKERS[2]!, state: 'SUCCESS', offset: 1000 }],
  ['time range (half), by received asc', { since: mid, sortBy: 'received', order: 'asc' }],
  ['text in args, newest 50', { search: 'customer-42' }],
  ['text + state + name', { search: "'eu-3'", state: 'SUCCESS', name: NAMES[7]! }],
  ['deep page (offset 60,000) by name', { sortBy: 'name', offset: 60_000 }],
];

console.log(`EventsState, ${TASKS.toLocaleString('en')} tasks, ${events.toLocaleString('en')} events`);
console.log(
  `  ingest: ${ingest.wall.toFixed(0)} ms wall, ${ingest.cpu.toFixed(0)} ms cpu ` +
    `(${((events / ingest.cpu) * 1000).toFixed(0)} events per cpu second)`,
);
console.log(
  `  heap after GC: ${heap.toFixed(1)} MB (${((heap * 1024 * 1024) / TASKS).toFixed(0)} bytes per task)`,
);
console.log(`  rss: ${(process.memoryUsage().rss / 1024 / 1024).toFixed(0)} MB`);
for (const [label, query] of queries) {
  const took = time(() => state.queryTasks({ limit: 50, ...query }));
  const { total } = state.queryTasks({ limit: 50, ...query });
  console.log(`  page of 50: ${label.padEnd(38)} ${took}  (${total} match)`);
}
console.log(
  `  live view frame 120x40:${' '.repeat(27)}${time(() => renderTop(state, { width: 120, height: 40 }))}`,
);

// Steady state past the bound: a further stream evicting the oldest tasks one by one.
const evicting = new EventsState({ maxTasks: 10_000 });
let clock = 0;
const evict = measure(() => {
  for (let i = 0; i < TASKS; i += 1) {
    const base = { uuid: `t${i}`, hostname: 'w@h', utcoffset: 0, pid: 1, local_received: T0 + i };
    evicting.event({
      ...base,
      clock: ++clock,
      type: 'task-received',
      timestamp: T0 + i,
      name: 'proj.add',
      args: '()',
    });
    evicting.event({
      ...base,
      clock: ++clock,
      type: 'task-succeeded',
      timestamp: T0 + i,
      result: '1',
      runtime: 0.1,
    });
  }
});
console.log(
  `  maxTasks 10,000 fed ${TASKS.toLocaleString('en')} tasks (2 events each): ${evict.wall.toFixed(0)} ms wall, ` +
    `${evict.cpu.toFixed(0)} ms cpu, kept ${evicting.tasks.size}`,
);
