/**
 * `celeriac events --dump` lines against Celery's: the lines Celery 5.2.6's Dumper printed for each event of the
 * recording (replayed by capture.py), and the lines the real `celery events --dump` process printed while the
 * recording was made (test/fixtures/events/dump.json).
 */
import { describe, expect, it } from 'vitest';
import { DUMP_GREETING, EventDumper, formatUtcTimestamp, humanizeType } from '../../src/events/dumper.js';
import type { JsonObject } from '../../src/types.js';
import { dump, recordedState } from '../fixtures/events/fixtures.js';

const prepared = recordedState().prepared.flat();
const fixture = dump();

describe("The event dumper against Celery's", () => {
  it("prints, for every recorded event, the line Celery's Dumper printed", () => {
    const dumper = new EventDumper();
    expect(prepared.map((event) => dumper.format(event))).toEqual(fixture.replay.map((entry) => entry.line));
  });

  it('prints what the real `celery events --dump` printed, given its own local_received and task-sent clocks', () => {
    const [greeting, ...lines] = joinContinuations(fixture.cli);
    expect(greeting).toBe(DUMP_GREETING);
    expect(lines.length).toBe(prepared.length);
    const dumper = new EventDumper();
    const unused = [...prepared];
    for (const line of lines) {
      const index = unused.findIndex((event) => sameEvent(event, line));
      expect(index, line).toBeGreaterThanOrEqual(0);
      const [event] = unused.splice(index, 1) as [JsonObject];
      // The two values that belong to the receiving process, not to the event.
      const localReceived = Number(/local_received=([^,]+)/.exec(line)![1]);
      const clock = Number(/clock=(\d+)/.exec(line)![1]);
      expect(dumper.format({ ...event, local_received: localReceived, clock })).toBe(line);
    }
  });
});

/** stdout was recorded line by line; an event's text spans lines when a field (a traceback) has newlines. */
function joinContinuations(stdout: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of stdout) {
    if (out.length === 0 || /^\S+ \[\d{4}-\d\d-\d\d /.test(line) || line.startsWith('-> ')) out.push(line);
    else out[out.length - 1] += `\n${line}`;
  }
  return out;
}

function sameEvent(event: JsonObject, line: string): boolean {
  const type = event.type as string;
  const head = `${event.hostname as string} [${formatUtcTimestamp(event.timestamp as number)}] ${humanizeType(type)}`;
  if (!line.startsWith(head)) return false;
  return typeof event.uuid !== 'string' || line.includes(event.uuid) || !type.startsWith('task-');
}
