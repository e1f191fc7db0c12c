/** The worker's side of a chord when the counter misbehaves: the body fails visibly instead of waiting forever. */
import { afterAll, expect, it } from 'vitest';
import { Celery } from '../app/celery.js';
import type { ChordCounter, ResultBackend } from '../backends/backend.js';
import { silentLogger } from '../lifecycle/logger.js';
import { uuid } from '../protocol/ids.js';
import type { SignatureDict } from '../protocol/message.js';
import { States } from '../types.js';
import { onChordPartReturn } from './chord-join.js';

const ns = `chord-join-${uuid().slice(0, 8)}`;
const app = new Celery('chord-join', { broker: `memory://${ns}`, backend: `memory://${ns}` });
app.logger = silentLogger();
afterAll(() => app.close());

function body(): SignatureDict {
  return {
    task: 't.body',
    args: [],
    kwargs: {},
    options: { task_id: uuid() },
    subtask_type: null,
    immutable: false,
  };
}

/** The app's backend with a chord counter whose `chordParts` always fails. */
async function brokenBackend(): Promise<ResultBackend> {
  const backend = await app.getBackend();
  const counter = backend.chordCounter!;
  const broken: ChordCounter = {
    setChordSize: (gid, size) => counter.setChordSize(gid, size),
    addChordPart: (gid, part) => counter.addChordPart(gid, part),
    claimChord: (gid, when) => counter.claimChord(gid, when),
    addToChord: (gid, n) => counter.addToChord(gid, n),
    deleteChord: (gid) => counter.deleteChord(gid),
    chordParts: () => Promise.reject(new Error('connection reset')),
  };
  return Object.create(backend, { chordCounter: { value: broken } }) as ResultBackend;
}

it("fails the body with ChordError('Join error: ...') when the parts cannot be read, and frees the counter", async () => {
  const backend = await brokenBackend();
  const gid = uuid();
  const chordBody = body();
  await backend.chordCounter!.setChordSize(gid, 1);
  const deps = { app, backend, logger: silentLogger(), retryDelayMs: 1 };
  await onChordPartReturn(
    deps,
    { id: uuid(), group: gid, groupIndex: 0, chord: chordBody },
    States.SUCCESS,
    1,
  );
  const stored = await backend.get(chordBody.options.task_id as string);
  expect(stored?.status).toBe(States.FAILURE);
  expect(stored?.result).toMatchObject({ exc_type: 'ChordError' });
  expect(JSON.stringify(stored?.result)).toContain('Join error: Error: connection reset');
  // Taken and deleted: a redelivered part finds no size and leaves the failed body alone.
  expect(
    (
      await backend.chordCounter!.addChordPart(gid, {
        taskId: 'late',
        state: 'SUCCESS',
        result: 2,
        groupIndex: 1,
      })
    ).size,
  ).toBeNull();
});

it('fails a chord body once when two failing parts race', async () => {
  const backend = await app.getBackend();
  const gid = uuid();
  const chordBody = body();
  await backend.chordCounter!.setChordSize(gid, 3);
  const deps = { app, backend, logger: silentLogger() };
  const part = (i: number) =>
    onChordPartReturn(
      deps,
      { id: `p${i}`, group: gid, groupIndex: i, chord: chordBody },
      States.FAILURE,
      new TypeError(`boom ${i}`),
    );
  await Promise.all([part(0), part(1)]);
  const stored = await backend.get(chordBody.options.task_id as string);
  expect(stored?.status).toBe(States.FAILURE);
  expect(JSON.stringify(stored?.result)).toMatch(/Dependency p[01] raised TypeError\('boom [01]'\)/);
  expect(await backend.chordCounter!.claimChord(gid, 'incomplete')).toBe(false);
});
