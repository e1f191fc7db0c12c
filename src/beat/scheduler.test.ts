import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Celery } from '../app/celery.js';
import type { PeriodicTaskEntry } from '../app/periodic.js';
import { silentLogger } from '../lifecycle/logger.js';
import { tempDir } from '../../test/support/tmp.js';
import { defaultEntries, loadEntries, type ScheduleEntry } from './entries.js';
import { crontab } from './schedules/crontab.js';
import { Scheduler } from './scheduler.js';
import { FileStore } from './stores/file-store.js';
import type { BeatStore, StoredEntry, StoredState } from './stores/store.js';

const dir = tempDir('beat-scheduler');
afterAll(() => dir.remove());
let files = 0;

class FakeClock {
  constructor(public ms: number) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

function appWith(schedule: Record<string, PeriodicTaskEntry>, options: { timezone?: string } = {}): Celery {
  return new Celery('sched', { broker: 'memory://', beatSchedule: schedule, ...options });
}

function scheduler(
  app: Celery,
  clock: FakeClock,
  store: BeatStore,
  sent: string[],
  fence?: BeatStore,
  maxInterval = 86_400,
): Scheduler {
  return new Scheduler({
    entries: loadEntries(app),
    store,
    fence,
    clock,
    send: (entry: ScheduleEntry) => {
      sent.push(`${entry.name}@${new Date(clock.now()).toISOString()}`);
      return Promise.resolve('id');
    },
    logger: silentLogger(),
    maxInterval,
    timezone: app.timezone,
    utcEnabled: app.conf.enableUtc,
  });
}

const file = (): FileStore => new FileStore(join(dir.path, `s${files++}.json`), silentLogger());
const T0 = Date.parse('2024-01-01T10:00:00Z');

describe('scheduler ticks', () => {
  it('sends an interval entry when due and sleeps until the next run', async () => {
    const clock = new FakeClock(T0);
    const sent: string[] = [];
    const s = scheduler(appWith({ ten: { task: 't.ten', schedule: 10 } }), clock, file(), sent);
    await s.setup();
    expect(await s.tick()).toBe(10_000);
    clock.advance(10);
    expect(await s.tick()).toBe(10_000);
    clock.advance(10.005);
    expect(await s.tick()).toBe(9_995); // on the grid of due times, not drifting with the send time
    expect(sent).toEqual(['ten@2024-01-01T10:00:10.000Z', 'ten@2024-01-01T10:00:20.005Z']);
    expect(s.entryState('ten')?.totalRunCount).toBe(2);
  });

  it('sleeps at most maxInterval', async () => {
    const clock = new FakeClock(T0);
    const s = scheduler(
      appWith({ daily: { task: 't', schedule: crontab({ minute: 0, hour: 4 }) } }),
      clock,
      file(),
      [],
      undefined,
      300,
    );
    await s.setup();
    expect(await s.tick()).toBe(300_000);
  });

  it('restarting with the persisted state resumes without re-sending', async () => {
    const store = file();
    const clock = new FakeClock(T0);
    const sent: string[] = [];
    const app = appWith({ hourly: { task: 't', schedule: crontab({ minute: 0 }) } });
    const first = scheduler(app, clock, store, sent);
    await first.setup();
    clock.advance(3600);
    await first.tick();
    clock.advance(1);
    const again = scheduler(app, clock, new FileStore(store.path, silentLogger()), sent);
    await again.setup();
    expect(await again.tick()).toBe(3599_000);
    expect(sent).toEqual(['hourly@2024-01-01T11:00:00.000Z']);
    const json = JSON.parse(readFileSync(store.path, 'utf8')) as {
      entries: Record<string, { totalRunCount: number }>;
    };
    expect(json.entries.hourly?.totalRunCount).toBe(1);
  });
});

describe('catch-up after downtime', () => {
  async function downtime(
    entry: Partial<PeriodicTaskEntry>,
    hours: number,
  ): Promise<{ sent: string[]; s: Scheduler }> {
    const clock = new FakeClock(T0);
    const sent: string[] = [];
    const s = scheduler(
      appWith({ hourly: { task: 't', schedule: crontab({ minute: 0 }), ...entry } }),
      clock,
      file(),
      sent,
    );
    await s.setup();
    clock.advance(hours * 3600 + 60);
    await s.tick();
    return { sent, s };
  }

  it('once (default): one run, then the next future run', async () => {
    const { sent, s } = await downtime({}, 5);
    expect(sent).toEqual(['hourly@2024-01-01T15:01:00.000Z']);
    expect(await s.tick()).toBe(59 * 60_000);
  });

  it('skip: no run for a missed tick', async () => {
    const { sent, s } = await downtime({ catchUp: 'skip' }, 5);
    expect(sent).toEqual([]);
    expect(s.entryState('hourly')?.totalRunCount).toBe(0);
  });

  it('all: every missed run, bounded by catchUpLimit', async () => {
    expect((await downtime({ catchUp: 'all' }, 3)).sent).toHaveLength(3);
    const { sent, s } = await downtime({ catchUp: 'all', catchUpLimit: 2 }, 5);
    expect(sent).toHaveLength(2);
    expect(await s.tick()).toBe(59 * 60_000);
  });
});

describe('resets, as Celery', () => {
  it('a changed entry starts afresh; an unchanged one keeps its state; a changed time zone resets all', async () => {
    const store = file();
    const clock = new FakeClock(T0);
    const a = scheduler(
      appWith({ keep: { task: 't', schedule: 60 }, change: { task: 't', schedule: 60 } }),
      clock,
      store,
      [],
    );
    await a.setup();
    clock.advance(61);
    await a.tick();
    const b = scheduler(
      appWith({ keep: { task: 't', schedule: 60 }, change: { task: 't', schedule: 120 } }),
      clock,
      new FileStore(store.path, silentLogger()),
      [],
    );
    await b.setup();
    expect(b.entryState('keep')?.totalRunCount).toBe(1);
    expect(b.entryState('change')).toMatchObject({ totalRunCount: 0, lastRunAt: clock.ms });
    const c = scheduler(
      appWith({ keep: { task: 't', schedule: 60 } }, { timezone: 'Europe/Paris' }),
      clock,
      new FileStore(store.path, silentLogger()),
      [],
    );
    await c.setup();
    expect(c.entryState('keep')?.totalRunCount).toBe(0);
  });

  it('sets a corrupted file aside and starts afresh', async () => {
    const store = file();
    writeFileSync(store.path, '{not json');
    const s = scheduler(appWith({ e: { task: 't', schedule: 5 } }), new FakeClock(T0), store, []);
    await s.setup();
    expect(readFileSync(`${store.path}.corrupt`, 'utf8')).toBe('{not json');
  });
});

/** A fenced store whose lease is lost on demand. */
class Fenced implements BeatStore {
  readonly description = 'fenced';
  leader = true;
  state: StoredState = { timezone: null, utcEnabled: null, entries: {} };
  load(): Promise<StoredState> {
    return Promise.resolve(this.state);
  }
  save(state: StoredState): Promise<boolean> {
    if (this.leader) this.state = state;
    return Promise.resolve(this.leader);
  }
  recordRun(name: string, entry: StoredEntry): Promise<boolean> {
    if (this.leader) this.state = { ...this.state, entries: { ...this.state.entries, [name]: entry } };
    return Promise.resolve(this.leader);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('fencing', () => {
  it('a beat whose lease is gone records nothing and sends nothing; the next leader adopts what was sent', async () => {
    const shared = new Fenced();
    const clock = new FakeClock(T0);
    const sentA: string[] = [];
    const sentB: string[] = [];
    const app = appWith({ every: { task: 't', schedule: 1 } });
    const a = scheduler(app, clock, file(), sentA, shared);
    await a.setup();
    await a.adopt();
    clock.advance(1);
    await a.tick();
    shared.leader = false;
    clock.advance(1);
    await expect(a.tick()).rejects.toThrow('lost leadership');
    shared.leader = true;
    const b = scheduler(app, clock, file(), sentB, shared);
    await b.setup();
    await b.adopt();
    await b.tick();
    clock.advance(1);
    await b.tick();
    expect(sentA).toEqual(['every@2024-01-01T10:00:01.000Z']);
    expect(sentB).toEqual(['every@2024-01-01T10:00:02.000Z', 'every@2024-01-01T10:00:03.000Z']);
    expect(shared.state.entries.every?.totalRunCount).toBe(3);
  });
});

describe('loading the schedule', () => {
  it('reports every problem at once, naming the entry, the field and the value', () => {
    const app = new Celery('bad', {
      broker: 'memory://',
      beatSchedule: {
        typo: { task: 'tasks.ad', schedule: 5 },
        cron: { task: 'tasks.add', schedule: 0 },
        option: { task: 'tasks.add', schedule: 5, options: { queu: 'x' } },
      },
    });
    app.task('tasks.add', (x: number, y: number) => x + y);
    app.addPeriodicTask(-1, app.signature('tasks.add'), { name: 'added' });
    let message = '';
    try {
      loadEntries(app);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('Invalid beat schedule (4 problems)');
    expect(message).toContain(
      'beat entry "typo": task "tasks.ad" is not registered in app bad (did you mean "tasks.add"?)',
    );
    expect(message).toContain(
      'beat entry "cron": interval every must be a positive number of seconds, got 0',
    );
    expect(message).toContain('beat entry "option": unknown calling option "queu" (did you mean "queue"?)');
    expect(message).toContain(
      'beat entry "added": interval every must be a positive number of seconds, got -1',
    );
  });

  it('reads Celery-style entries through configFromObject, with snake_case options', () => {
    const app = new Celery('cfg', { broker: 'memory://' }).configFromObject({
      beat_schedule: {
        nightly: {
          task: 'py.cleanup',
          schedule: crontab('0 3 * * *'),
          options: { routing_key: 'r', expires: 60 },
        },
      },
      timezone: 'Europe/Paris',
    });
    const [entry] = loadEntries(app);
    expect(entry?.options).toEqual({ routingKey: 'r', expires: 60 });
    expect(entry?.schedule.nextRunAfter(new Date('2024-07-01T00:00:00Z')).toISOString()).toBe(
      '2024-07-01T01:00:00.000Z',
    );
  });

  it('installs celery.backend_cleanup at 04:00 when results expire and the backend does not expire them', () => {
    const app = new Celery('clean', { broker: 'memory://', resultExpires: 3600 });
    expect(defaultEntries(app, false)).toEqual({});
    app.task('celery.backend_cleanup', () => null);
    const entries = defaultEntries(app, false);
    expect((entries['celery.backend_cleanup']?.schedule as { toString(): string }).toString()).toBe(
      '<crontab: 0 4 * * * (m/h/d/dM/MY)>',
    );
    expect(entries['celery.backend_cleanup']?.options).toEqual({ expires: 43_200 });
    expect(defaultEntries(app, true)).toEqual({});
    expect(defaultEntries(new Celery('x', { broker: 'memory://', resultExpires: null }), false)).toEqual({});
  });
});
