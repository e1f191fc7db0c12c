import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultNodename, expandNodename, hostFormat, nodeFormat } from './nodename.js';

// Expected values were printed by Celery 5.2.6 (celery.utils.nodenames) for the same inputs.
describe('node names as Celery builds them', () => {
  it('defaults to celery@<host>, and reads a value without @ as a host name', () => {
    expect(expandNodename()).toBe(`celery@${hostname()}`);
    expect(defaultNodename('w1')).toBe('celery@w1');
    expect(expandNodename('w1@%h')).toBe(`w1@${hostname()}`);
  });

  it('expands %h, %n and %d against the host', () => {
    const host = 'foo.bar.baz';
    expect(hostFormat('%n@%h', { host })).toBe('foo@foo.bar.baz');
    expect(hostFormat('w1@%n.example.com', { host })).toBe('w1@foo.example.com');
    expect(hostFormat('%d', { host })).toBe('bar.baz');
  });

  it('expands pid and log file templates for a node, with the pool process index', () => {
    expect(nodeFormat('%n%I.log', 'w1@foo.bar.baz')).toBe('w1.log');
    expect(nodeFormat('%h-%d-%i-%p.pid', 'w1@foo.bar.baz')).toBe('foo.bar.baz-bar.baz-0-w1@foo.bar.baz.pid');
    expect(nodeFormat('%n%I.log', 'w1@foo', 2)).toBe('w1-2.log');
    expect(nodeFormat('%n-%i.log', 'w1@foo', 3)).toBe('w1-3.log');
  });

  it('rejects unknown keys, naming the template', () => {
    expect(() => nodeFormat('%n-%x.log', 'w1@foo')).toThrow('Unknown format %x in string "%n-%x.log"');
  });
});
