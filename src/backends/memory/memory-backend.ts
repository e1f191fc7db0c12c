/** `memory://[name]`: results kept in this process. Backends of one name share their results. */
import { EventEmitter } from 'node:events';
import type { ResultMeta } from '../../types.js';
import { MemoryChordCounter } from '../chord-parts.js';
import type {
  BackendCapabilities,
  ChordCounter,
  BackendContext,
  GroupMeta,
  ResultBackend,
  WaitOptions,
} from '../backend.js';
import { mayOverwrite } from '../meta.js';
import { pollUntilReady } from '../wait.js';

interface Space {
  results: Map<string, ResultMeta>;
  groups: Map<string, GroupMeta>;
  notifier: EventEmitter;
  chords: MemoryChordCounter;
}

const spaces = new Map<string, Space>();

export class MemoryBackend implements ResultBackend {
  readonly capabilities: BackendCapabilities = {
    persistent: false,
    shared: false,
    push: true,
    groups: true,
    chords: 'native',
    autoExpire: true,
  };
  private readonly space: Space;

  /** Chord parts, counted in this process (memory:// is one process). */
  get chordCounter(): ChordCounter {
    return this.space.chords;
  }

  constructor(
    readonly url: string,
    name: string,
  ) {
    let space = spaces.get(name);
    if (!space) {
      const notifier = new EventEmitter();
      notifier.setMaxListeners(0);
      space = { results: new Map(), groups: new Map(), notifier, chords: new MemoryChordCounter() };
      spaces.set(name, space);
    }
    this.space = space;
  }

  async connect(): Promise<void> {}

  async store(meta: ResultMeta): Promise<void> {
    if (!mayOverwrite(this.space.results.get(meta.task_id) ?? null)) return;
    this.space.results.set(meta.task_id, structuredClone(meta));
    this.space.notifier.emit(meta.task_id);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const meta = this.space.results.get(taskId);
    return meta ? structuredClone(meta) : null;
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    return pollUntilReady(
      taskId,
      () => this.get(taskId),
      { intervalMs: 1000, ...options },
      this.space.notifier,
    );
  }

  async forget(taskId: string): Promise<void> {
    this.space.results.delete(taskId);
  }

  async saveGroup(groupId: string, meta: GroupMeta): Promise<void> {
    this.space.groups.set(groupId, structuredClone(meta));
  }

  async getGroup(groupId: string): Promise<GroupMeta | null> {
    const meta = this.space.groups.get(groupId);
    return meta ? structuredClone(meta) : null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.space.groups.delete(groupId);
  }

  /** Nothing outlives the process. */
  async cleanup(): Promise<void> {}

  async close(): Promise<void> {}
}

export function createMemoryBackend(url: string, _context: BackendContext): ResultBackend {
  const name = url.replace(/^memory:\/\//, '').replace(/\/+$/, '') || 'default';
  return new MemoryBackend(url, name);
}
