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

interface Sent {
  id: string;
  /** When the beat sent it (the fixture's `sent_at` header): not when this process got to it. */
  sentAt: number;
}

function parseMessage(raw: string): Sent {
  const message = JSON.parse(raw) as { headers: { id: string; sent_at: number } };
  return { id: message.headers.id, sentAt: message.headers.sent_at };
}

/** Pops the next message published to the queue. */
async function nextMessage(queue: string): Promise<Sent> {
  const reply = await redis.blpop(`${prefix}${queue}`, 15);
  if (!reply) throw new Error(`no message on ${queue} within 15 s`);
  return parseMessage(reply[1]);
}

describe('several beats on one Redis', () => {
  it('one sends each tick once; after kill -9 another takes over within the lease, sending no tick twice', async () => {
    const queue = `beat-${uuid().slice(0, 8)}`;
    const env = envFor(queue, { BEAT_LEASE: '3' });
    const a = start(['beat', '-l', 'info', '-s', join(dir.path, 'a.json')], env);
    await a.waitFor(/beat: leading/);
    const b = start(['beat', '-l', 'info', '-s', join(dir.path, 'b.json')], env);
    await b.waitFor(/standing by/);
    // From here on, every message is kept, in the order it was published.
    await redis.del(`${prefix}${queue}`);
    const before: Sent[] = [];
    for (let i = 0; i < 4; i++) before.push(await nextMessage(queue));
    expect(b.output()).not.toMatch(/Sending due task/);

    a.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited();
    await b.waitFor(/beat: leading/, 10_000);
    const after: Sent[] = [];
    for (let i = 0; i < 3; i++) after.push(await nextMessage(queue));
    b.kill('SIGTERM');
    expect(await b.exited()).toBe(0);
    // Whatever was sent after the last pop (this process may have fallen behind the beat) is checked too.
    const rest = (await redis.lrange(`${prefix}${queue}`, 0, -1)).map(parseMessage);

    const all = [...before, ...after, ...rest];
    expect(new Set(all.map((m) => m.id)).size).toBe(all.length);
    // B's first message is the tick missed while nobody led, sent as soon as it leads: within one lease period
    // (3 s) of the kill, plus the time to notice it (the retry lands as the lease expires) and to send it on a
    // loaded machine. Timed by when B sent it, not when this process saw it.
    const firstByB = all.find((m) => m.sentAt > killedAt);
    expect(firstByB).toBeDefined();
    expect(firstByB!.sentAt - killedAt).toBeLessThan(3_000 + 3_000);
    // Once per second while one leads, and across the failover the missed tick once (catch-up once), not the
    // ticks A had sent: never two messages for one tick (those would be sent together).
    const gaps = all.slice(1).map((m, i) => m.sentAt - all[i]!.sentAt);
    for (const gap of gaps) expect(gap).toBeGreaterThan(600);
  }, 120_000);
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
    // A tick may have been sent after the second run: run by the first worker, or left in its queue. Neither is
    // to be taken for a run after the restart.
    await redis.del(`${prefix}ran`, `${prefix}${queue}`);

    const second = start(args, env);
    const at = await ran();
    // The first run after the restart is the next tick of the stored schedule, not an immediate re-send.
    expect(at).toBeGreaterThanOrEqual(Date.parse(before.lastRunAt) + 2_000);
    second.kill('SIGTERM');
    await second.exited();
    // Counted on from the stored state: one for each tick sent since the restart, the one awaited and any sent
    // before the SIGTERM took effect (run, or still in the queue).
    const sentSince = 1 + (await redis.llen(`${prefix}ran`)) + (await redis.llen(`${prefix}${queue}`));
    expect(stored().totalRunCount).toBe(before.totalRunCount + sentSince);
    expect(second.output()).toMatch(/Scheduler: Sending due task tick \(beat.tick\)/);
  }, 120_000);
});
