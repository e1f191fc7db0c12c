import { describe, expect, it } from 'vitest';
import { buildEvent, eventJson, eventMessage, eventRoutingKey, utcoffset } from './event.js';

describe('Celery event messages', () => {
  it('route by type with dashes turned into dots', () => {
    expect(eventRoutingKey('task-succeeded')).toBe('task.succeeded');
    expect(eventRoutingKey('worker-heartbeat')).toBe('worker.heartbeat');
  });

  it("carry Celery's fields in Celery's order, timestamp in seconds and type last", () => {
    const event = buildEvent(
      'task-progress',
      { uuid: 'u1', done: 2 },
      { hostname: 'w1@h', pid: 42, clock: 7, now: 1_700_000_000_500 },
    );
    expect(Object.keys(event)).toEqual([
      'hostname',
      'utcoffset',
      'pid',
      'clock',
      'uuid',
      'done',
      'timestamp',
      'type',
    ]);
    expect(event).toMatchObject({
      hostname: 'w1@h',
      pid: 42,
      clock: 7,
      uuid: 'u1',
      timestamp: 1_700_000_000.5,
      type: 'task-progress',
    });
    const message = eventMessage(event, 'w1@h');
    expect(message.headers).toEqual({ hostname: 'w1@h' });
    expect(message.properties.delivery_mode).toBe(1);
    expect(JSON.parse(message.body.toString('utf8'))).toEqual(event);
  });

  it('measure utcoffset in hours west of UTC, as time.timezone // 3600', () => {
    const date = new Date();
    expect(utcoffset(date)).toBe(Math.floor(date.getTimezoneOffset() / 60));
  });
});

describe('eventJson', () => {
  it("writes whole numbers of Celery's float fields as Python floats, and nothing else", () => {
    const event = buildEvent(
      'worker-heartbeat',
      { freq: 2, active: 0, loadavg: [0, 1.5, 2], processed: 3, note: 'freq 2' },
      { hostname: 'w@h', pid: 1, clock: 4, now: 1_700_000_000_000 },
    );
    const text = eventJson([event]);
    expect(text).toContain('"freq":2.0,');
    expect(text).toContain('"loadavg":[0.0,1.5,2.0]');
    expect(text).toContain('"timestamp":1700000000.0,');
    expect(text).toContain('"active":0,');
    expect(text).toContain('"clock":4,');
    expect(JSON.parse(text)).toEqual([event]);
  });
});
