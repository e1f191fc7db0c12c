import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../testing/index.js';
import { chain } from './chain.js';
import { chord } from './chord.js';
import { group } from './group.js';
import { signature, Signature } from './signature.js';

const app = createTestApp();
afterAll(() => app.close());
const add = app.task('t.add', (x: number, y: number) => x + y);
const tsum = app.task('t.tsum', (values: number[]) => values.length);

describe('signatures', () => {
  it("have Celery's dict form, and come back from it as the same kind", () => {
    expect(
      add
        .s(1)
        .set({ countdown: 5, linkError: add.si(0, 0) })
        .toJSON(),
    ).toEqual({
      task: 't.add',
      args: [1],
      kwargs: {},
      options: {
        countdown: 5,
        link_error: [
          { task: 't.add', args: [0, 0], kwargs: {}, options: {}, subtask_type: null, immutable: true },
        ],
      },
      subtask_type: null,
      immutable: false,
    });
    const c = chord([add.s(1, 1)], tsum.s());
    expect(Signature.fromDict(JSON.stringify(c), app).constructor.name).toBe('Chord');
    expect(Signature.fromDict(group(add.s(1, 1)).toJSON(), app).constructor.name).toBe('Group');
    expect(Signature.fromDict(chain(add.s(1, 1), add.s(2)).toJSON(), app).constructor.name).toBe('Chain');
    expect(group(add.s(1, 1)).toJSON()).toMatchObject({ task: 'celery.group', subtask_type: 'group' });
    expect(c.toJSON()).toMatchObject({ task: 'celery.chord', kwargs: { kwargs: {} }, subtask_type: 'chord' });
  });

  it('freeze assigns the ids that sending uses', async () => {
    const sig = add.s(1, 2);
    const frozen = sig.freeze();
    expect(sig.id).toBe(frozen.id);
    expect(sig.options.reply_to).toBe(app.oid);
  });

  it('refuse bad input with errors that say what to do', async () => {
    expect(() => Signature.fromDict({ nope: 1 } as never, app)).toThrow(
      /not a signature: expected \{task, args/,
    );
    expect(() => signature('')).toThrow(/needs a task name/);
    expect(() => add.chunks([[1, 2]], 0)).toThrow(/chunk size must be a positive integer/);
    await expect(signature('t.add', [1, 2]).delay()).rejects.toThrow(
      /no app to send it with.*app\.signature/,
    );
    expect(() => chain([])).toThrow(/at least one signature/);
    await expect(group(add.s(1, 1)).applyAsync([], {}, { link: add.s(1) })).rejects.toThrow(/use a chord/);
  });
});
