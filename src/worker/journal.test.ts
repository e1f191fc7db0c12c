import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
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
    const [file] = readdirSync(path).filter((f) => f.endsWith('.jsonl'));
    copyFileSync(join(path, file!), join(path, file!.replace(`.${process.pid}.`, `.${deadPid()}.`)));
    const { j: next, backend } = await journal(path);
    await next.start();
    expect(await backend.get('other-scope')).toBeNull();
    expect(readdirSync(path).filter((f) => f.endsWith('.jsonl'))).toHaveLength(3);
    await next.stop();
    await other.stop();
  });
});
