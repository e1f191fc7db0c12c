import { describe, expect, it } from 'vitest';
import { DELAY_LEVELS, delayRoute, deliverPattern, levelName, withoutDeathHeaders } from './delay.js';

describe('delay levels', () => {
  it('spells the delay in binary, whole seconds rounded down, and starts at its highest level', () => {
    const route = delayRoute('celery', 60_900);
    expect(route.seconds).toBe(60);
    expect(route.exchange).toBe(levelName(5));
    const words = route.routingKey.split('.');
    expect(words).toHaveLength(DELAY_LEVELS + 1);
    expect(words.slice(0, DELAY_LEVELS).join('')).toBe((60).toString(2).padStart(DELAY_LEVELS, '0'));
    expect(words.at(-1)).toBe('celery');
  });

  it('waits at least a second, at most 2^23 - 1 seconds per trip', () => {
    expect(delayRoute('q', 10).seconds).toBe(1);
    expect(delayRoute('q', 10 ** 12).seconds).toBe(2 ** DELAY_LEVELS - 1);
  });

  it('binds a destination after one wildcard word per level, so dotted queue names stay exact', () => {
    expect(deliverPattern('a.b')).toBe(`${'*.'.repeat(DELAY_LEVELS)}a.b`);
    expect(() => delayRoute('tasks.*', 5000)).toThrow(/wildcard/);
    expect(() => delayRoute('x'.repeat(250), 5000)).toThrow(/too long/);
  });

  it("drops RabbitMQ's dead-letter records and keeps every task header", () => {
    const headers = {
      id: '1',
      task: 't',
      'x-death': [],
      'x-first-death-queue': 'q',
      'x-last-death-reason': 'r',
    };
    expect(withoutDeathHeaders(headers)).toEqual({ id: '1', task: 't' });
    const plain = { id: '1', task: 't' };
    expect(withoutDeathHeaders(plain)).toBe(plain);
  });
});
