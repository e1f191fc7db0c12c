import { describe, expect, it } from 'vitest';
import { EventDumper, formatUtcTimestamp, humanizeType, pyRepr, pyStr } from './dumper.js';

describe('Dumper formatting, as celery/events/dumper.py', () => {
  it.each([
    ['worker-online', 'started'],
    ['worker-heartbeat', 'heartbeat'],
    ['worker-offline', 'shutdown'],
    ['task-succeeded', 'task succeeded'],
    ['Task-Progress', 'task progress'],
  ])('humanizes %s as %s', (type, human) => {
    expect(humanizeType(type)).toBe(human);
  });

  it.each([
    [1_700_000_000, '2023-11-14 22:13:20'],
    [1_700_000_000.5, '2023-11-14 22:13:20.500000'],
    [1_700_000_000.0000005, '2023-11-14 22:13:20'],
    [1_700_000_000.9999995, '2023-11-14 22:13:21'],
    [0.0000025, '1970-01-01 00:00:00.000002'],
    [-1.5, '1969-12-31 23:59:58.500000'],
  ])('prints timestamp %s as str(datetime.utcfromtimestamp()) does: %s', (seconds, text) => {
    expect(formatUtcTimestamp(seconds)).toBe(text);
  });

  it.each([
    [null, 'None'],
    [true, 'True'],
    [3, '3'],
    [0.1, '0.1'],
    [1e-7, '1e-07'],
    ["it's", '"it\'s"'],
    ['a\'b"c', "'a\\'b\"c'"],
    ['tab\there\n', "'tab\\there\\n'"],
    ['\u0001\u00a0é', "'\\x01\\xa0é'"],
    [['x', 1, { k: null }], "['x', 1, {'k': None}]"],
  ])('repr(%j) is %s', (value, text) => {
    expect(pyRepr(value)).toBe(text);
  });

  it('str() leaves strings as they are', () => {
    expect(pyStr("it's")).toBe("it's");
  });

  it('names a task on later lines from its task-received line, and leaves it blank when unknown', () => {
    const dumper = new EventDumper();
    const base = { hostname: 'w1@h', timestamp: 1_700_000_000, clock: 3, utcoffset: 0, pid: 1 };
    const received = {
      ...base,
      type: 'task-received',
      uuid: 'u1',
      name: 'proj.add',
      args: '(2, 2)',
      kwargs: '{}',
    };
    expect(dumper.format(received)).toBe(
      'w1@h [2023-11-14 22:13:20] task received: proj.add(u1) args=(2, 2) kwargs={} clock=3, pid=1, utcoffset=0',
    );
    expect(dumper.format({ ...base, type: 'task-succeeded', uuid: 'u1', result: '4', runtime: 1 })).toBe(
      'w1@h [2023-11-14 22:13:20] task succeeded: proj.add(u1) args=(2, 2) kwargs={} clock=3, pid=1, result=4, runtime=1.0, utcoffset=0',
    );
    expect(
      dumper.format({ type: 'task-started', uuid: 'u2', hostname: 'w1@h', timestamp: 1_700_000_000 }),
    ).toBe('w1@h [2023-11-14 22:13:20] task started  ');
  });

  it("prints freq as Celery sends it: a float from the heartbeat thread, an int from the 'heartbeat' command", () => {
    const dumper = new EventDumper();
    const beat = { type: 'worker-heartbeat', hostname: 'w1@h', timestamp: 1_700_000_000, freq: 2 };
    expect(dumper.format({ ...beat, active: 0, loadavg: [1, 0.5, 0] })).toBe(
      'w1@h [2023-11-14 22:13:20] heartbeat: active=0, freq=2.0, loadavg=[1.0, 0.5, 0.0]',
    );
    expect(dumper.format({ ...beat, freq: 5 })).toBe('w1@h [2023-11-14 22:13:20] heartbeat: freq=5');
  });
});
