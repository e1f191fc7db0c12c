import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { findSignal } from '../commands/multi.js';
import { parseNodes } from './nodes.js';

const host = hostname();

// The node command lines Celery 5.2.6's MultiParser builds for the same arguments (apps/multi.py), with
// Celeriac's default pid/log file directory (the current one).
describe('multi nodes', () => {
  it('builds each node from names and common options, with per-node overrides', () => {
    const nodes = parseNodes(
      ['w1', 'w2', '-c', '3', '-c:w1', '5', '--pidfile=/tmp/%n.pid', '-l', 'info'],
      ['-A', 'proj'],
    );
    expect(nodes.map((n) => n.name)).toEqual([`w1@${host}`, `w2@${host}`]);
    expect(nodes[0]!.argv).toEqual([
      '-c',
      '5',
      '--pidfile=/tmp/w1.pid',
      '-l',
      'info',
      '-n',
      `w1@${host}`,
      '--logfile=w1%I.log',
    ]);
    expect(nodes[1]!.argv).toEqual([
      '-c',
      '3',
      '--pidfile=/tmp/w2.pid',
      '-l',
      'info',
      '-n',
      `w2@${host}`,
      '--logfile=w2%I.log',
    ]);
    expect(nodes[0]!.globalArgv).toEqual(['-A', 'proj']);
    expect(nodes[0]!.pidfile).toBe('/tmp/w1.pid');
    expect(nodes[1]!.logfile).toBe('w2%I.log');
  });

  it('names a count of nodes celery1..N and applies index ranges', () => {
    const nodes = parseNodes(['3', '-c:1-2', '5']);
    expect(nodes.map((n) => n.name)).toEqual([`celery1@${host}`, `celery2@${host}`, `celery3@${host}`]);
    expect(nodes.map((n) => n.options.get('-c') ?? null)).toEqual(['5', '5', null]);
    expect(parseNodes(['2', '--range-prefix=worker']).map((n) => n.name)).toEqual([
      `worker1@${host}`,
      `worker2@${host}`,
    ]);
  });

  it('keeps full node names, lists in namespaces, -- passthrough and -p/-f', () => {
    const nodes = parseNodes(['a@x.example.com', 'b@%h', '-Q:a,b', 'q1', '-p', '/run/%n.pid', '--', '--foo']);
    expect(nodes.map((n) => n.name)).toEqual(['a@x.example.com', `b@${host}`]);
    expect(nodes[0]!.argv).toEqual([
      '-Q',
      'q1',
      '-n',
      'a@x.example.com',
      '--pidfile=/run/a.pid',
      '--logfile=a%I.log',
      '--foo',
    ]);
    expect(nodes[1]!.expand('%n|%h|%d|%i')).toBe(`b|b@${host}|${host}|%i`);
  });

  it('reads `--pidfile /x` as the pid file, not as a node named /x (long options known to take a value)', () => {
    const nodes = parseNodes(['w1', '--pidfile', '/tmp/%n.pid', '--logfile', '/tmp/%n.log', '--verbose']);
    expect(nodes.map((n) => n.name)).toEqual([`w1@${host}`]);
    expect(nodes[0]!.pidfile).toBe('/tmp/w1.pid');
  });

  it('finds the signal argument of stop', () => {
    expect(findSignal(['w1', '-KILL'])).toBe('SIGKILL');
    expect(findSignal(['w1', '-9'])).toBe('SIGKILL');
    expect(findSignal(['w1', '--pidfile=x'])).toBe('SIGTERM');
  });
});
