/**
 * `--persistent`: a dashboard restarted on the same SQLite file shows the same tasks, timelines, workers and
 * counters as before the restart (nothing lost), and the file stays bounded by `maxTasks`, oldest task first out.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Celery, LamportClock, prepareEvent, splitEventBody, type JsonValue } from '../../src/index.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { bodyOf, stream } from '../fixtures/events/fixtures.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('dashboard-persistent');
afterAll(() => dir.remove());

const recording = stream();
const end = recording.messages.at(-1)!.received_at;

function dashboard(db: string, maxTasks = 10_000) {
  const app = new Celery('persistent-test', { broker: 'memory://' });
  return createDashboard({ app, db, maxTasks, queueInterval: 0, now: () => end });
}

function feed(d: ReturnType<typeof dashboard>): void {
  const clock = new LamportClock();
  for (const message of recording.messages) {
    for (const raw of splitEventBody(bodyOf(message)).events) {
      d.monitor.receive(prepareEvent(raw, { clock, now: message.received_at }));
    }
  }
}

async function get(d: ReturnType<typeof dashboard>, path: string): Promise<JsonValue> {
  return (await (await d.fetch(new Request(`http://dashboard${path}`))).json()) as JsonValue;
}

describe('a persistent dashboard', () => {
  it('restarts with every task, timeline, worker and counter it had', async () => {
    const db = join(dir.path, 'restart.db');
    const first = dashboard(db);
    await first.monitor.start();
    feed(first);
    const before = {
      tasks: await get(first, '/api/tasks'),
      detail: await get(first, `/api/dashboard/task/${recording.ids['chord-body']}`),
      workers: await get(first, '/api/dashboard/workers'),
      summary: first.monitor.summary(),
    };
    await first.stop();

    const second = dashboard(db);
    await second.monitor.start();
    expect(await get(second, '/api/tasks')).toEqual(before.tasks);
    expect(await get(second, `/api/dashboard/task/${recording.ids['chord-body']}`)).toEqual(before.detail);
    expect(await get(second, '/api/dashboard/workers')).toEqual(before.workers);
    expect(second.monitor.summary()).toEqual(before.summary);
    expect(Object.keys(before.tasks as object).length).toBeGreaterThan(15);
    await second.stop();
  });

  it('keeps at most maxTasks tasks, the oldest out first, across restarts', async () => {
    const db = join(dir.path, 'bounded.db');
    const first = dashboard(db, 5);
    await first.monitor.start();
    feed(first);
    const kept = Object.keys((await get(first, '/api/tasks')) as object).sort();
    expect(kept).toHaveLength(5);
    await first.stop();

    const second = dashboard(db, 5);
    await second.monitor.start();
    expect(Object.keys((await get(second, '/api/tasks')) as object).sort()).toEqual(kept);
    // The last task of the recording is kept, the first one is gone.
    expect(kept).toContain(recording.ids['chord-body']);
    expect(kept).not.toContain(recording.ids.succeeded);
    await second.stop();
  });
});
