/** The machine and software versions a benchmark ran on, for the JSON report. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';
import { rabbitVersion } from './amqp.js';
import { redisVersion } from './redis.js';
import type { Settings } from './types.js';

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  loadAverage: number[];
  node: string;
  redis: string;
  rabbitmq: string;
  celery: string;
  bullmq: string;
  celeriac: string;
  commit: string;
}

function packageVersion(url: URL): string {
  try {
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function orUnavailable(version: Promise<string>): Promise<string> {
  try {
    return await version;
  } catch (error) {
    return `unavailable (${(error as Error).message})`;
  }
}

export async function machineInfo(settings: Settings, celery: string | undefined): Promise<Machine> {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    redis: await orUnavailable(redisVersion(settings.redisUrl)),
    rabbitmq: await orUnavailable(rabbitVersion(settings.amqpUrl)),
    celery: celery ?? 'not installed',
    bullmq: packageVersion(new URL('../../node_modules/bullmq/package.json', import.meta.url)),
    celeriac: packageVersion(new URL('../../package.json', import.meta.url)),
    commit,
  };
}
