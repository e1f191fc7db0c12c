import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/tmp.js';
import { Celery } from '../app/celery.js';
import { silentLogger } from '../lifecycle/logger.js';
import { States } from '../types.js';
import { Journal } from './journal.js';

const dir = tempDir('journal');
afterAll(() => dir.remove());

async function journal(path: string, scope = 'memory:// memory://') {
  const app = new Celery('journal', { broker: 'memory://', backend: 'memory://' });
  const backend = await app.getBackend();
  const j = new Journal({
    dir: path,
    scope,
    hostname: 'celery@test',
    backend,
    storesResults: true,
    logger: silentLogger(),
  });
  return { j, backend };
}

/** A pid that existed and is gone. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid;
}

const entry = (id: string, late: boolean) => ({
  id,
  name: 'tasks.t',
  late,
  replyTo: null,
  correlationId: null,
});

describe('worker journal', () => {
  it("recovers a dead process's file: early-acked tasks FAILURE WorkerLostError, late-acked deaths counted", async () => {
    const path = join(dir.path, 'recover');
    // The dead worker: its journal written by a Journal of the same scope, then renamed to a dead pid's name.
    const { j: dead } = await journal(path);
    await dead.start();
    dead.started(entry('early-running', false));
    dead.started(entry('early-done', false));
    dead.started(entry('late-running', true));
    dead.done('early-done');
    await dead.drain();
    const [file] = readdirSync(path).filter((f) => f.endsWith('.jsonl'));
    const renamed = file!.replace(`.${process.pid}.`, `.${deadPid()}.`);
    copyFileSync(join(path, file!), join(path, renamed));
    await dead.stop();
    expect(existsSync(join(path, file!))).toBe(false);

    const { j: next, backend } = await journal(path);
    await next.start();
    const failure = await backend.get('early-running');
    expect(failure?.status).toBe(States.FAILURE);
    expect((failure?.result as { exc_type?: string }).exc_type).toBe('WorkerLostError');
    expect(await backend.get('early-done')).toBeNull();
    expect(next.deaths('late-running')).toBe(1);
    expect(readdirSync(path).filter((f) => f.includes('.jsonl'))).toHaveLength(1); // its own
    next.forgetDeaths('late-running');
    expect(next.deaths('late-running')).toBe(0);
    await next.stop();
  });

  it('leaves alone the files of live processes and of workers on other brokers or backends', async () => {
    const path = join(dir.path, 'alone');
    const { j: other } = await journal(path, 'redis://elsewhere memory://');
    await other.start();
    other.started(entry('other-scope', false));
    other.flush();
    const [file] = readdirSync(path).filter((f) => f.endsWith('.jsonl'));
    copyFileSync(join(path, file!), join(path, file!.replace(`.${process.pid}.`, `.${deadPid()}.`)));
    const { j: next, backend } = await journal(path);
    await next.start();
    expect(await backend.get('other-scope')).toBeNull();
    expect(readdirSync(path).filter((f) => f.endsWith('.jsonl'))).toHaveLength(3);
    await next.stop();
    await other.stop();
  });

  it('writes a late-ack line at once, early-ack and done lines on flush() (before the acks) or next turn', async () => {
    const path = join(dir.path, 'timing');
    const { j } = await journal(path);
    await j.start();
    const [file] = readdirSync(path).filter((f) => f.endsWith('.jsonl'));
    const lines = () => readFileSync(join(path, file!), 'utf8').split('\n').filter(Boolean);
    j.started(entry('early', false));
    expect(lines()).toEqual([]);
    j.flush();
    expect(lines()).toHaveLength(1);
    j.done('early');
    j.started(entry('late', true));
    expect(lines()).toHaveLength(3); // the queued done line went first, in order
    j.done('late');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines().map((line) => JSON.parse(line) as unknown)).toEqual([
      { s: entry('early', false) },
      { d: 'early' },
      { s: entry('late', true) },
      { d: 'late' },
    ]);
    await j.stop();
  });

  it('runs without a journal when its directory cannot be written, and stops cleanly', async () => {
    const { j } = await journal(join(dir.path, 'not-a-dir.txt', 'journal'));
    writeFileSync(join(dir.path, 'not-a-dir.txt'), 'a file');
    await j.start();
    j.started(entry('x', true));
    j.done('x');
    await expect(j.stop()).resolves.toBeUndefined();
  });
});
