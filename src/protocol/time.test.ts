import { describe, expect, it } from 'vitest';
import { formatAwareIso, parseIso } from './time.js';

describe('parseIso', () => {
  it.each([
    ['2026-11-24T18:13:53.462291+00:00', Date.UTC(2026, 10, 24, 18, 13, 53, 462)],
    ['2030-01-02T05:04:05+02:00', Date.UTC(2030, 0, 2, 3, 4, 5)],
    ['2030-01-02T03:04:05Z', Date.UTC(2030, 0, 2, 3, 4, 5)],
    ['2030-01-02T03:04:05.1-0130', Date.UTC(2030, 0, 2, 4, 34, 5, 100)],
    ['2026-11-24T18:14:08.752842', Date.UTC(2026, 10, 24, 18, 14, 8, 752)],
    // Date.UTC would read years 0..99 as 1900..1999.
    ['0099-12-31T23:59:59.999+00:00', Date.parse('0099-12-31T23:59:59.999Z')],
    ['0001-01-01T00:00:00+00:00', Date.parse('0001-01-01T00:00:00Z')],
  ])('%s', (text, ms) => {
    expect(parseIso(text)).toBe(ms);
  });

  it.each([
    '2026-02-31T00:00:00',
    '2026-01-01T24:00:00',
    '2026-01-01T00:60:00',
    '0000-01-01T00:00:00',
    'soon',
  ])('rejects %s as Python datetime() does', (text) => {
    expect(parseIso(text)).toBeNull();
  });

  it('reads back what formatAwareIso writes, for years 1 to 9999', () => {
    for (const iso of ['0001-01-01T00:00:00.000Z', '0050-06-15T12:00:00.500Z', '9999-12-31T23:59:59.999Z']) {
      const ms = Date.parse(iso);
      expect(parseIso(formatAwareIso(ms))).toBe(ms);
    }
  });
});
