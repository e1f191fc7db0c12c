/**
 * The dashboard at scale: N synthetic tasks (received, started, then succeeded or failed) fed to a dashboard as
 * prepared events, then filtered, sorted pages asked over its real HTTP server (the page's endpoint and Flower's
 * `/api/tasks`), median of 21 requests each, plus `/metrics` and the process RSS. Not a test: numbers only.
 *
 * Each event goes through JSON text and back, as events do on the wire (the receiver decodes message bodies):
 * strings built by template literals would otherwise stay V8 cons-strings, several objects each, and inflate the
 * memory measured. Memory is printed after ingest (after a GC), after the requests, after 15 seconds idle (no
 * forced GC: what V8's memory reducer gives back by itself), and after a memory-reducing GC.
 *
 *   node --expose-gc --import tsx bench/dashboard.ts [--tasks 100000]
 */
import { loadavg } from 'node:os';
import { Celery } from '../src/index.js';
import { createDashboard, tuneHeapForDashboard } from '../src/dashboard/index.js';

const argIndex = process.argv.indexOf('--tasks');
const TASKS = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 100_000;
const T0 = Date.now() / 1000 - TASKS * 0.01;
const NAMES = Array.from({ length: 20 }, (_, i) => `proj.tasks.job_${i}`);
const WORKERS = Array.from({ length: 8 }, (_, i) => `worker${i}@host`);

const app = new Celery('bench-dashboard', { broker: 'memory://' });
// As `celeriac dashboard` does.
tuneHeapForDashboard();
const dashboard = createDashboard({ app, port: 0, maxTasks: TASKS, queueInterval: 0 });
const url = await dashboard.start();

const started = performance.now();
const cpuStart = process.cpuUsage();
let clock = 0;
let events = 0;
const send = (fields: Record<string, string | number | null>) => {
  dashboard.monitor.receive(
    JSON.parse(JSON.stringify({ utcoffset: 0, pid: 1234, clock: ++clock, ...fields })),
  );
  events += 1;
};
for (let i = 0; i < TASKS; i += 1) {
  const uuid = `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
  const hostname = WORKERS[i % WORKERS.length]!;
  const at = T0 + i * 0.01;
  const base = { uuid, hostname, local_received: at };
  send({
    ...base,
    type: 'task-received',
    timestamp: at,
    name: NAMES[i % NAMES.length]!,
    args: `(${i}, 'customer-${i % 977}')`,
    kwargs: '{}',
    retries: 0,
    eta: null,
    expires: null,
    root_id: uuid,
    parent_id: null,
  });
  send({ ...base, type: 'task-started', timestamp: at + 0.002 });
  if (i % 10 === 7)
    send({
      ...base,
      type: 'task-failed',
      timestamp: at + 0.005,
      exception: "ValueError('boom')",
      traceback: 'Traceback ...',
    });
  else
    send({ ...base, type: 'task-succeeded', timestamp: at + 0.005, result: String(i * 2), runtime: 0.003 });
}
const ingestMs = performance.now() - started;
const ingestCpu = process.cpuUsage(cpuStart);
type Gc = (options?: { type: 'major'; execution: 'sync'; flavor?: 'last-resort' }) => void;
const gc = (globalThis as { gc?: Gc }).gc ?? (() => undefined);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
function memory(label: string): string {
  const m = process.memoryUsage();
  return `${label}: RSS ${mb(m.rss)} MB, heap used ${mb(m.heapUsed)} MB of ${mb(m.heapTotal)} MB`;
}
gc();
const afterIngest = memory('after ingest and a GC');

/** Wall time and this process's CPU time (server and client both live here) per request, medians of 21. */
async function median(path: string): Promise<{ ms: number; cpu: number; bytes: number }> {
  const times: number[] = [];
  const cpus: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 21; i += 1) {
    const c = process.cpuUsage();
    const t = performance.now();
    const response = await fetch(`${url.replace(/\/$/, '')}${path}`);
    bytes = (await response.arrayBuffer()).byteLength;
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    times.push(performance.now() - t);
    const used = process.cpuUsage(c);
    cpus.push((used.user + used.system) / 1000);
  }
  times.sort((a, b) => a - b);
  cpus.sort((a, b) => a - b);
  return { ms: times[10]!, cpu: cpus[10]!, bytes };
}

const queries = [
  '/api/dashboard/tasks?limit=50',
  '/api/dashboard/tasks?state=FAILURE&limit=50',
  '/api/dashboard/tasks?state=SUCCESS&name=proj.tasks.job_3&worker=worker3@host&limit=50',
  '/api/dashboard/tasks?search=customer-42)&limit=50',
  '/api/dashboard/tasks?sort=runtime&order=desc&limit=50&offset=500',
  '/api/tasks?state=FAILURE&limit=50',
  '/api/tasks?taskname=proj.tasks.job_3&sort_by=-received&limit=50',
  '/metrics',
];
const cpuMs = (ingestCpu.user + ingestCpu.system) / 1000;
console.log(
  `${TASKS} tasks, ${events} events ingested in ${ingestMs.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms cpu ` +
    `(${((events / cpuMs) * 1000).toFixed(0)} events per cpu second); load average ${loadavg()[0]!.toFixed(1)}`,
);
console.log(afterIngest);
console.log('| request | wall ms | cpu ms | bytes |');
console.log('|---|---|---|---|');
for (const path of queries) {
  const { ms, cpu, bytes } = await median(path);
  console.log(`| \`${path}\` | ${ms.toFixed(1)} | ${cpu.toFixed(1)} | ${bytes} |`);
}
gc();
console.log(memory('after the requests and a GC'));
// What an idle dashboard gets back by itself (V8's memory reducer runs a few seconds after allocation stops),
// then what a memory-reducing collection gets back.
await new Promise((resolve) => setTimeout(resolve, 15_000));
console.log(memory('idle 15 s, no forced GC'));
gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
console.log(memory('then a memory-reducing GC'));
await dashboard.stop();
