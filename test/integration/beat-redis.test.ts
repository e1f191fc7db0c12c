/**
 * `celeriac beat` processes on one Redis: one leads and sends an every-second entry once per second; killed with
 * SIGKILL, it is replaced within the lease period and no tick is sent twice. Also: an invalid schedule stops the
 * process at start with every problem named and nothing sent, and `worker -B` resumes from its state file
 * without re-sending. Messages are observed by popping the queue (BLPOP): tests wait on them, not on sleeps.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli, runCli, type RunningProcess } from '../support/processes.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';
import { uuid } from '../../src/protocol/ids.js';

const FIXTURE = 'test/integration/fixtures/beat-app.ts';
const prefix = testPrefix('beat-redis');
const dir = tempDir('beat-redis');
const redis = testClient();
const running: RunningProcess[] = [];

afterAll(async () => {
  for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited()));
  await deletePrefix(redis, prefix);
  redis.disconnect();
  dir.remove();
});

function envFor(queue: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { BEAT_BROKER: REDIS_URL, BEAT_PREFIX: prefix, BEAT_QUEUE: queue, BEAT_APP: queue, ...extra };
}

function start(args: string[], env: NodeJS.ProcessEnv): RunningProcess {
  const p = startCli(['-A', FIXTURE, ...args], { env });
  running.push(p);
  return p;
}

/** Pops the next message published to the queue; resolves with the time it was seen and its task id. */
async function nextMessage(queue: string): Promise<{ at: number; id: string }> {
  const reply = await redis.blpop(`${prefix}${queue}`, 15);
  if (!reply) throw new Error(`no message on ${queue} within 15 s`);
  const message = JSON.parse(reply[1]) as { headers: { id: string } };
  return { at: Date.now(), id: message.headers.id };
}

describe('several beats on one Redis', () => {
  it('one sends each tick once; after kill -9 another takes over within the lease, sending no tick twice', async () => {
    const queue = `beat-${uuid().slice(0, 8)}`;
    const env = envFor(queue, { BEAT_LEASE: '3' });
    const a = start(['beat', '-l', 'info', '-s', join(dir.path, 'a.json')], env);
    await a.waitFor(/beat: leading/);
    const b = start(['beat', '-l', 'info', '-s', join(dir.path, 'b.json')], env);
    await b.waitFor(/standing by/);
    // From here on, each message is popped as it is published.
    await redis.del(`${prefix}${queue}`);
    const before: { at: number; id: string }[] = [];
    for (let i = 0; i < 4; i++) before.push(await nextMessage(queue));
    expect(b.output()).not.toMatch(/Sending due task/);

    a.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited();
    await b.waitFor(/beat: leading/, 10_000);
    const takeover = Date.now() - killedAt;
    const after: { at: number; id: string }[] = [];
    for (let i = 0; i < 3; i++) after.push(await nextMessage(queue));

    // Within one lease period (3 s), plus the time to notice it (the retry lands as the lease expires).
    expect(takeover).toBeLessThan(3_000 + 500);
    const all = [...before, ...after];
    expect(new Set(all.map((m) => m.id)).size).toBe(all.length);
    const gaps = all.slice(1).map((m, i) => m.at - all[i]!.at);
    // Once per second while one leads: never two messages for one tick (those would arrive together).
    for (const gap of [...gaps.slice(0, 3), ...gaps.slice(4)]) expect(gap).toBeGreaterThan(600);
    // Across the failover: the missed tick is sent once (catch-up once), not the ticks A had sent.
    expect(gaps[3]).toBeGreaterThan(600);
    expect(await redis.llen(`${prefix}${queue}`)).toBeLessThanOrEqual(1);
    b.kill('SIGTERM');
    expect(await b.exited()).toBe(0);
  }, 40_000);
});

describe('invalid schedules', () => {
  it('exit non-zero at start with every problem named, and send nothing', async () => {
    const queue = `beat-${uuid().slice(0, 8)}`;
    const { code, stderr } = await runCli(['-A', FIXTURE, 'beat', '-s', join(dir.path, 'bad.json')], {
      env: envFor(queue, { BEAT_INVALID: '1' }),
    });
    expect(code).toBe(1);
    expect(stderr).toContain('Invalid beat schedule (3 problems)');
    expect(stderr).toContain('beat entry "broken": schedule must be a number of seconds, crontab()');
    expect(stderr).toContain('beat entry "worse": task "beat.tock" is not registered in app');
    expect(stderr).toContain('beat entry "zero": interval every must be a positive number of seconds, got 0');
    expect(await redis.llen(`${prefix}${queue}`)).toBe(0);
    expect(await redis.exists(`${prefix}celeriac.beat.${queue}.state`)).toBe(0);
  }, 20_000);

  it('names the crontab field and value', async () => {
    const { code, stderr } = await runCli(['-A', 'test/integration/fixtures/beat-bad-crontab.ts', 'beat']);
    expect(code).toBe(1);
    expect(stderr).toContain('crontab minute "61" is out of range 0-59');
  }, 20_000);
});

describe('worker -B', () => {
  it('runs the schedule inside the worker, and resumes from its state file without re-sending', async () => {
    const queue = `beat-${uuid().slice(0, 8)}`;
    const env = envFor(queue, { BEAT_EVERY: '2' });
    const file = join(dir.path, 'worker-b.json');
    const args = ['worker', '-B', '-s', file, '-Q', queue, '-P', 'solo', '-l', 'info'];
    const ran = async (): Promise<number> => {
      const reply = await redis.blpop(`${prefix}ran`, 15);
      if (!reply) throw new Error('beat.tick did not run within 15 s');
      return (JSON.parse(reply[1]) as { at: number }).at;
    };
    const first = start(args, env);
    try {
      await ran();
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${first.output()}`);
    }
    await ran();
    first.kill('SIGTERM');
    await first.exited();
    const stored = (): { lastRunAt: string; totalRunCount: number } =>
      (
        JSON.parse(readFileSync(file, 'utf8')) as {
          entries: Record<string, { lastRunAt: string; totalRunCount: number }>;
        }
      ).entries.tick!;
    const before = stored();
    expect(before.totalRunCount).toBeGreaterThanOrEqual(2);

    const second = start(args, env);
    const at = await ran();
    // The first run after the restart is the next tick of the stored schedule, not an immediate re-send.
    expect(at).toBeGreaterThanOrEqual(Date.parse(before.lastRunAt) + 2_000);
    second.kill('SIGTERM');
    await second.exited();
    expect(stored().totalRunCount).toBe(before.totalRunCount + 1);
    expect(second.output()).toMatch(/Scheduler: Sending due task tick \(beat.tick\)/);
  }, 40_000);
});
