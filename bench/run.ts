/**
 * `npm run bench`: Celeriac side by side with Python Celery 5.2.6 and BullMQ on the same Redis (and RabbitMQ),
 * scenario by scenario, alternating contenders over several repetitions. Prints a table of medians with the ratio
 * to Celeriac, and writes every sample to bench/results/<timestamp>.json. Methodology: bench/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE, type Options } from './lib/args.js';
import { machineInfo } from './lib/machine.js';
import { PYTHON_DIR, runToEnd } from './lib/processes.js';
import { derive, only, runScenario } from './lib/runner.js';
import { formatMarkdown, formatTable } from './lib/table.js';
import { checkTargets, formatTargets } from './lib/targets.js';
import type { Scenario, ScenarioReport } from './lib/types.js';
import { celeryVersion, probePython } from './scenarios/common.js';
import { chordScenario } from './scenarios/chord.js';
import { databaseProcessScenario } from './scenarios/database.js';
import { amqpEnqueueScenario, enqueueScenario } from './scenarios/enqueue.js';
import { amqpLatencyScenario, latencyScenario } from './scenarios/latency.js';
import {
  PROCESS_METRICS,
  RESOURCE_METRICS,
  amqpProcessScenario,
  processScenario,
} from './scenarios/process.js';

const DEFAULT_OUT = fileURLToPath(new URL('./results/', import.meta.url));

function plan(options: Options): Scenario[] {
  const s = options.settings;
  const want = (id: string): boolean => options.only.has(id);
  const list: Scenario[] = [];
  if (want('1')) list.push(enqueueScenario(s, false));
  if (want('2')) list.push(enqueueScenario(s, true));
  if (want('3') || want('8')) list.push(processScenario(s, false));
  if (want('4')) list.push(processScenario(s, true), databaseProcessScenario(s));
  if (want('5')) list.push(latencyScenario(s));
  if (want('6')) list.push(chordScenario(s));
  if (want('7')) list.push(amqpEnqueueScenario(s), amqpProcessScenario(s), amqpLatencyScenario(s));
  return list;
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2), DEFAULT_OUT);
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = (error as Error).message === USAGE ? 0 : 2;
    return;
  }
  const settings = options.settings;
  const progress = (line: string): void => void process.stderr.write(`${line}\n`);
  await probePython(settings, (python) =>
    runToEnd(python, ['-c', 'import celery, redis; print(celery.__version__)'], {}, PYTHON_DIR),
  );
  const machine = await machineInfo(settings, celeryVersion());
  const startedAt = new Date();
  progress(
    `Celeriac benchmark, ${options.mode} mode: ${settings.n} tasks, ${settings.reps} repetitions, run ${settings.runId}`,
  );
  progress(
    `${machine.cores} cores (${machine.cpuModel}), Node ${machine.node}, Redis ${machine.redis}, RabbitMQ ${machine.rabbitmq}, Celery ${machine.celery}, BullMQ ${machine.bullmq}`,
  );

  const reports: ScenarioReport[] = [];
  for (const scenario of plan(options)) {
    progress(`${scenario.id}. ${scenario.title}`);
    const report = await runScenario(scenario, settings, progress);
    if (scenario.id === '3') {
      if (options.only.has('3')) reports.push(only(report, PROCESS_METRICS));
      if (options.only.has('8')) {
        reports.push(
          derive(
            report,
            '8',
            `Worker memory and Redis CPU, during scenario 3 (${settings.n} tasks)`,
            RESOURCE_METRICS,
          ),
        );
      }
    } else if (scenario.id === '4') {
      reports.push(only(report, PROCESS_METRICS));
    } else {
      reports.push(report);
    }
  }
  reports.sort((a, b) => Number(a.id) - Number(b.id));

  const finishedAt = new Date();
  const table = formatTable(reports);
  const targets = checkTargets(reports);
  process.stdout.write(
    `\nCeleriac ${machine.celeriac} (${machine.commit}) vs Python Celery ${machine.celery} and BullMQ ${machine.bullmq}, ` +
      `${options.mode} mode, ${settings.n} tasks, median of ${settings.reps}; "Celeriac x" = how many times faster (or cheaper) Celeriac is\n\n${table}\n${formatTargets(targets)}\n\n`,
  );
  mkdirSync(options.outDir, { recursive: true });
  const file = join(options.outDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const { pythonAvailable: _p, runId, ...publicSettings } = settings;
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        format: 'celeriac-bench/1',
        mode: options.mode,
        runId,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        settings: publicSettings,
        machine,
        scenarios: reports,
        targets,
        markdown: `${formatMarkdown(reports)}\n${formatTargets(targets, true)}\n`,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`Results: ${file}\n`);
}

await main();
// Clients of the scenarios (ioredis, amqplib, BullMQ) are closed, but a lingering socket must not keep a finished
// benchmark alive.
process.exit(process.exitCode ?? 0);
