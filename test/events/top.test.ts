/**
 * The `celeriac events` screen and its plain-lines form, drawn from the recorded Celery stream (deterministic:
 * committed data, injected time). Snapshots live in __snapshots__/ as text; look at them when they change.
 */
import { describe, expect, it } from 'vitest';
import { LamportClock } from '../../src/events/clock.js';
import { prepareEvent, splitEventBody } from '../../src/events/incoming.js';
import { EventsState } from '../../src/events/state.js';
import { renderPlain, renderTop } from '../../src/events/top.js';
import { bodyOf, recordedState, stream } from '../fixtures/events/fixtures.js';

const recording = stream();
const { local_utcoffset: localUtcoffset } = recordedState();

/** The state after the first `count` recorded messages, at the arrival time of the last one. */
function stateAfter(count: number): EventsState {
  const messages = recording.messages.slice(0, count);
  const now = messages.at(-1)!.received_at;
  const state = new EventsState({ now: () => now });
  const clock = new LamportClock();
  for (const message of messages) {
    for (const raw of splitEventBody(bodyOf(message)).events) {
      state.event(prepareEvent(raw, { clock, now: message.received_at, localUtcoffset }));
    }
  }
  return state;
}

const ANSI = new RegExp(String.fromCharCode(27) + '\\[\\d+m', 'g');

describe('The live events view', () => {
  it('draws a 120x30 screen mid-run (workers online, tasks in every state)', async () => {
    const screen = renderTop(stateAfter(60), { width: 120, height: 30 });
    await expect(screen).toMatchFileSnapshot('__snapshots__/top-120x30-midrun.txt');
  });

  it('draws an 80x24 screen at the end (workers offline), colours only the state column', async () => {
    const state = stateAfter(recording.messages.length);
    const screen = renderTop(state, { width: 80, height: 24 });
    await expect(screen).toMatchFileSnapshot('__snapshots__/top-80x24-end.txt');
    const colored = renderTop(state, { width: 80, height: 24, color: true });
    expect(colored).toContain('\u001b[32mSUCCESS\u001b[0m');
    expect(colored.replace(ANSI, '')).toBe(screen);
  });

  it('always fills exactly the terminal, whatever its size', () => {
    const state = stateAfter(60);
    for (const [width, height] of [
      [60, 8],
      [61, 9],
      [100, 12],
      [200, 50],
      [30, 5],
    ] as const) {
      const lines = renderTop(state, { width, height, color: true }).split('\n');
      expect(lines).toHaveLength(height);
      for (const line of lines) expect(line.replace(ANSI, '').length).toBeLessThanOrEqual(width);
    }
    expect(renderTop(state, { width: 30, height: 5 })).toMatch(/^Terminal too small: 30x5/);
  });

  it('gives plain lines for a pipe: summary, workers, recent tasks', async () => {
    const state = stateAfter(60);
    const lines = renderPlain(state, { limit: 8 });
    await expect(lines.join('\n') + '\n').toMatchFileSnapshot('__snapshots__/plain-midrun.txt');
    expect(lines[0]).toBe(`events: ${state.eventCount} tasks:${state.taskCount} workers:2/2`);
    expect(lines.filter((line) => line.startsWith('worker '))).toHaveLength(2);
    expect(lines.filter((line) => line.startsWith('task '))).toHaveLength(8);
  });
});
