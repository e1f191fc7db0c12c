/**
 * An in-process chord counter for backends whose storage is not Redis (memory://; sqlite:// keeps the same
 * bookkeeping in tables): parts are keyed by task id, so a header task that runs twice (a redelivery after a lost
 * worker) is counted once, and read back in header order (`group_index`, unindexed parts last, as Celery's +inf).
 */
import type { JsonValue } from '../types.js';
import type { ChordCounter, ChordPart, ChordProgress } from './backend.js';

interface ChordState {
  size: number | null;
  extra: number;
  parts: Map<string, ChordPart & { seq: number }>;
}

export function orderParts(
  parts: Iterable<ChordPart & { seq: number }>,
): [number, string, string, JsonValue][] {
  return [...parts]
    .sort((a, b) => (a.groupIndex ?? Infinity) - (b.groupIndex ?? Infinity) || a.seq - b.seq)
    .map((p) => [1, p.taskId, p.state, p.result]);
}

export class MemoryChordCounter implements ChordCounter {
  private readonly chords = new Map<string, ChordState>();
  private seq = 0;

  private state(groupId: string): ChordState {
    let state = this.chords.get(groupId);
    if (!state) {
      state = { size: null, extra: 0, parts: new Map() };
      this.chords.set(groupId, state);
    }
    return state;
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    this.state(groupId).size = size;
  }

  async addChordPart(groupId: string, part: ChordPart): Promise<ChordProgress> {
    const state = this.state(groupId);
    const previous = state.parts.get(part.taskId);
    state.parts.set(part.taskId, { ...structuredClone(part), seq: previous?.seq ?? this.seq++ });
    return { ready: state.parts.size, size: state.size, extra: state.extra };
  }

  async chordParts(groupId: string): Promise<[number, string, string, JsonValue][]> {
    const state = this.chords.get(groupId);
    return state ? structuredClone(orderParts(state.parts.values())) : [];
  }

  async addToChord(groupId: string, count = 1): Promise<void> {
    this.state(groupId).extra += count;
  }

  async claimChord(groupId: string, when: 'complete' | 'incomplete'): Promise<boolean> {
    const state = this.chords.get(groupId);
    if (!state || state.size === null) return false;
    const complete = state.parts.size >= state.size + state.extra;
    if (complete !== (when === 'complete')) return false;
    state.size = null;
    return true;
  }

  async deleteChord(groupId: string): Promise<void> {
    this.chords.delete(groupId);
  }
}
