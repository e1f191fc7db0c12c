/** What runs next after a task: the pure decisions, and the one sending path (batched), in a worker and eagerly. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Celery } from '../app/celery.js';
import type { SignatureDict } from '../protocol/message.js';
import { createTestApp } from '../testing/index.js';
import { States } from '../types.js';
import { chainFailure, chordMember, errbackSteps, runSteps, successSteps, type Finished } from './next.js';

function sig(task: string, options: SignatureDict['options'] = {}, immutable = false): SignatureDict {
  return { task, args: [], kwargs: {}, options, subtask_type: null, immutable };
}

function groupSig(tasks: SignatureDict[]): SignatureDict {
  return { ...sig('celery.group'), kwargs: { tasks }, subtask_type: 'group' };
}

function finished(embed: Partial<Finished['embed']>, extra: Partial<Finished> = {}): Finished {
  return {
    id: 'id-1',
    rootId: 'root-1',
    replyTo: 'oid',
    group: null,
    groupIndex: null,
    embed: { callbacks: null, errbacks: null, chain: null, chord: null, ...embed },
    ...extra,
  };
}

const lineage = { parent_id: 'id-1', root_id: 'root-1' };

describe('what runs next: the decisions', () => {
  it('after a success: nothing, one callback, callbacks as one group, groups alone, then the next chain link', () => {
    expect(successSteps(finished({}), 5)).toEqual([]);
    expect(successSteps(finished({ callbacks: [sig('a')] }), 5)).toEqual([
      { sig: sig('a'), args: [5], options: lineage, how: 'apply' },
    ]);
    const g = groupSig([sig('g1')]);
    const steps = successSteps(finished({ callbacks: [sig('a'), g, sig('b')] }), 5);
    expect(steps.map((s) => s.sig)).toEqual([g, groupSig([sig('a'), sig('b')])]);
    // The chain travels reversed: the next link is the last element, and it carries the rest.
    const chained = successSteps(finished({ chain: [sig('third'), sig('second')] }), 5);
    expect(chained).toEqual([
      { sig: sig('second'), args: [5], options: { ...lineage, chain: [sig('third')] }, how: 'apply' },
    ]);
    // Without a root id, the task is its own root.
    expect(successSteps(finished({ callbacks: [sig('a')] }, { rootId: null }), 1)[0]!.options).toEqual({
      parent_id: 'id-1',
      root_id: 'id-1',
    });
  });

  it('after a failure: link errors by name with the failed id; the chain fails, chord members fail their part', () => {
    expect(errbackSteps(finished({ errbacks: [sig('eb')] }))).toEqual([
      { sig: sig('eb'), args: ['id-1'], options: lineage, how: 'send' },
    ]);
    const body = sig('body', { task_id: 'body-id' });
    const member = sig('last', { task_id: 'last-id', group_id: 'g', group_index: 2, chord: body });
    const f = finished({ chain: [member, sig('next', { task_id: 'next-id' })] });
    expect(chainFailure(f, true)).toEqual([
      { kind: 'store', id: 'last-id' },
      { kind: 'chordPart', member: { id: 'last-id', group: 'g', groupIndex: 2, chord: body } },
      { kind: 'store', id: 'next-id' },
    ]);
    // A task that does not store failures (ignoreResult) still fails the chord part.
    expect(chainFailure(f, false).map((e) => e.kind)).toEqual(['chordPart']);
  });

  it('a chord header task stands for its part; other tasks for none', () => {
    const body = sig('body');
    expect(chordMember(finished({ chord: body }, { group: 'g', groupIndex: 1 }))).toEqual({
      id: 'id-1',
      group: 'g',
      groupIndex: 1,
      chord: body,
      rootId: 'root-1',
    });
    expect(chordMember(finished({}))).toBeNull();
  });
});

describe('what runs next: the sending path', () => {
  const apps: Celery[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  function makeApp(options: { taskAlwaysEager?: boolean } = {}): Celery {
    const app = createTestApp(options);
    apps.push(app);
    return app;
  }

  it('publishes consecutive plain tasks in one batch, in order, and a canvas on its own between them', async () => {
    const app = makeApp();
    const batches = vi.spyOn(app, 'sendTasks');
    const f = finished({
      callbacks: [sig('cb', { task_id: 'cb-id' })],
      chain: [sig('third'), sig('second', { task_id: 'second-id' })],
    });
    const children = await runSteps(app, successSteps(f, 7));
    expect(batches).toHaveBeenCalledTimes(1);
    expect(batches.mock.calls[0]![0].map((c) => [c.name, c.args, c.options?.parentId])).toEqual([
      ['cb', [7], 'id-1'],
      ['second', [7], 'id-1'],
    ]);
    expect(children).toEqual([
      [['cb-id', null], null],
      [['second-id', null], null],
    ]);
    const broker = await app.getBroker();
    expect(await broker.size(app.conf.taskDefaultQueue)).toBe(2);

    batches.mockClear();
    const steps = successSteps(
      finished({ callbacks: [groupSig([sig('g1'), sig('g2')])], chain: [sig('n')] }),
      1,
    );
    await runSteps(app, [...errbackSteps(finished({ errbacks: [sig('eb')] })), ...steps]);
    // The errback is flushed before the group is applied (its members go by the group's own path), then the
    // chain link after it.
    expect(batches.mock.calls.map((call) => call[0].map((c) => c.name))).toEqual([['eb'], ['n']]);
    expect(await broker.size(app.conf.taskDefaultQueue)).toBe(6);
  });

  it('runs follow-ups here with taskAlwaysEager, several callbacks as one group, as in a worker', async () => {
    const app = makeApp({ taskAlwaysEager: true });
    const got: unknown[] = [];
    app.task('next.record', (value: unknown) => void got.push(value));
    const add = app.task('next.add', (x: number, y: number) => x + y);
    const result = await add.applyAsync(
      [1, 2],
      {},
      { link: [sig('next.record', { task_id: 'r1' }), sig('next.record', { task_id: 'r2' })] },
    );
    expect(await result.get()).toBe(3);
    expect(got).toEqual([3, 3]);
    const failing = app.task('next.fail', () => {
      throw new Error('no');
    });
    const failed = await failing.applyAsync([], {}, { linkError: sig('next.record') });
    expect(await failed.state()).toBe(States.FAILURE);
    expect(got).toEqual([3, 3, failed.id]);
  });
});
