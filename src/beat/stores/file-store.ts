/**
 * The default store: a JSON file (`-s`, `beatScheduleFilename`), in place of Celery's shelve database, which
 * corrupts easily (`_dbm.error`, `KeyError: 'entries'`). Every write goes to a temporary file that then replaces the
 * old one, so a crash leaves either the old state or the new one, never half a file. An unreadable file is set
 * aside (renamed `.corrupt`) with a warning and beat starts afresh, as Celery does with a corrupted schedule.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ImproperlyConfigured } from '../../errors.js';
import type { Logger } from '../../lifecycle/logger.js';
import {
  EMPTY_STATE,
  entryJson,
  parseState,
  type BeatStore,
  type StoredEntry,
  type StoredState,
} from './store.js';

export class FileStore implements BeatStore {
  readonly path: string;
  readonly description: string;
  private state: StoredState = EMPTY_STATE;

  constructor(
    path: string,
    private readonly logger: Logger,
  ) {
    this.path = resolve(path);
    this.description = `file ${this.path}`;
  }

  load(): Promise<StoredState> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve(EMPTY_STATE);
      throw new ImproperlyConfigured(
        `Cannot read the beat schedule file ${this.path}: ${(error as Error).message} (set -s or beatScheduleFilename to a readable path)`,
      );
    }
    try {
      this.state = parseState(JSON.parse(text));
    } catch (error) {
      const aside = `${this.path}.corrupt`;
      this.logger.error(
        `Removing corrupted schedule file ${this.path} (kept as ${aside}): ${(error as Error).message}`,
      );
      renameSync(this.path, aside);
      this.state = EMPTY_STATE;
    }
    return Promise.resolve(this.state);
  }

  save(state: StoredState): Promise<boolean> {
    this.state = state;
    this.write();
    return Promise.resolve(true);
  }

  recordRun(name: string, entry: StoredEntry): Promise<boolean> {
    this.state = { ...this.state, entries: { ...this.state.entries, [name]: entry } };
    this.write();
    return Promise.resolve(true);
  }

  private write(): void {
    const { timezone, utcEnabled, entries } = this.state;
    const json = {
      version: 1,
      timezone,
      utcEnabled,
      entries: Object.fromEntries(Object.entries(entries).map(([name, e]) => [name, entryJson(e)])),
    };
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(tmp, `${JSON.stringify(json, null, 1)}\n`);
      renameSync(tmp, this.path);
    } catch (error) {
      throw new ImproperlyConfigured(
        `Cannot write the beat schedule file ${this.path}: ${(error as Error).message} (set -s or beatScheduleFilename to a writable path)`,
      );
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
