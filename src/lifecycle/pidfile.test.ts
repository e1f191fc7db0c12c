import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/tmp.js';
import { createPidlock, Pidfile, PidfileLocked } from './pidfile.js';

const dir = tempDir('pidfile');
afterAll(() => dir.remove());

describe('pid files as Celery keeps them', () => {
  it('writes the pid and a newline, and removes the file when released', () => {
    const path = join(dir.path, 'a.pid');
    const release = createPidlock(path);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    release();
    expect(existsSync(path)).toBe(false);
  });

  it('refuses a pid file held by a live process and removes stale or broken ones', () => {
    const path = join(dir.path, 'b.pid');
    writeFileSync(path, '1\n');
    expect(() => new Pidfile(path).check(() => undefined)).toThrow(PidfileLocked);
    const notes: string[] = [];
    writeFileSync(path, '999999\n');
    new Pidfile(path).check((m) => notes.push(m));
    writeFileSync(path, '123');
    new Pidfile(path).check((m) => notes.push(m));
    expect(notes).toEqual(['Stale pidfile exists - Removing it.', 'Broken pidfile found - Removing it.']);
    expect(existsSync(path)).toBe(false);
  });
});
