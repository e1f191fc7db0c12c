/**
 * What runs next after a task, written once for the worker and for eager runs, as Celery decides it
 * (`celery/app/trace.py:440-530`, `celery/backends/base.py` mark_as_failure and `_call_task_errbacks`):
 *
 *   success: the link callbacks with the result prepended (several are sent as one group, as Celery does; a
 *            callback that is a group is sent on its own), then the next link of the chain with the rest of it
 *            (the chain travels reversed: the next task is the last element);
 *   failure: the link errors, called with the failed task's id (Celery's old-style errback signature); in a worker
 *            also the rest of the chain, stored as FAILURE so that waiting on it does not hang, and a chain link
 *            that is a member of a chord fails its part;
 *   either:  a chord header task records its part (chord-join.ts).
 *
 * The decisions are pure functions of the finished task (`successSteps`, `errbackSteps`, `chainFailure`,
 * `chordMember`). `runSteps` is the one path that carries the steps out, in order: plain tasks go to the broker
 * together (`app.sendTasks`, one round trip), canvases through `applyDict`, and a task registered here runs here
 * when `taskAlwaysEager` is on.
 */
import type { Celery, TaskCall } from '../app/celery.js';
import { callOptionsFromSignature } from '../app/publish.js';
import { checkArity, type CallOptions } from '../app/task.js';
import { buildMeta } from '../backends/meta.js';
import type { Embed, SignatureDict } from '../protocol/message.js';
import { States, type JsonObject, type JsonValue, type ResultTuple } from '../types.js';
import { applyDict, prepareTask } from './apply.js';
import { onChordPartReturn, outcomeIds, type ChordDeps, type ChordMember } from './chord-join.js';
import { groupDict, isDict, kindOf } from './freeze.js';

/** The task that finished, as its message gave it: a worker's TaskMessage and an eager TaskRequest both fit. */
export interface Finished {
  readonly id: string;
  readonly rootId: string | null;
  readonly replyTo: string | null;
  readonly group: string | null;
  readonly groupIndex: number | null;
  readonly embed: Embed;
}

/** One signature to call after a task. */
export interface NextStep {
  readonly sig: SignatureDict;
  /** Prepended to the signature's args, unless it is immutable. */
  readonly args: readonly JsonValue[];
  /** Merged over the signature's options: the lineage (parent and root id), the rest of a chain. */
  readonly options: JsonObject;
  /**
   * `apply`: as a signature (Celery's `signature(d).apply_async(...)`), so a canvas is sent as one and a task
   * registered here gets its own calling defaults. `send`: as a message by task name, as link errors are sent.
   */
  readonly how: 'apply' | 'send';
}

function lineage(f: Finished): JsonObject {
  return { parent_id: f.id, root_id: f.rootId ?? f.id };
}

/** After a success: the link callbacks, then the next chain link, each given the result. */
export function successSteps(f: Finished, value: unknown): NextStep[] {
  if (!f.embed.callbacks && !f.embed.chain) return [];
  const options = lineage(f);
  const args = [value as JsonValue];
  const steps: NextStep[] = [];
  const callbacks = f.embed.callbacks ?? [];
  if (callbacks.length === 1) {
    steps.push({ sig: callbacks[0]!, args, options, how: 'apply' });
  } else if (callbacks.length > 1) {
    const groups = callbacks.filter((c) => kindOf(c) === 'group');
    const plain = callbacks.filter((c) => kindOf(c) !== 'group');
    for (const g of groups) steps.push({ sig: g, args, options, how: 'apply' });
    if (plain.length > 0) steps.push({ sig: groupDict(plain), args, options, how: 'apply' });
  }
  const chain = f.embed.chain;
  if (chain && chain.length > 0) {
    const rest = [...chain];
    const next = rest.pop()!;
    steps.push({ sig: next, args, options: { ...options, chain: rest }, how: 'apply' });
  }
  return steps;
}

/** After a failure: the link errors, each given the failed task's id. */
export function errbackSteps(f: Finished): NextStep[] {
  const options = lineage(f);
  return (f.embed.errbacks ?? []).map((sig) => ({ sig, args: [f.id], options, how: 'send' as const }));
}

/** What a failure does to the rest of its chain, in order. */
export type ChainFailure =
  | { readonly kind: 'store'; readonly id: string }
  | { readonly kind: 'chordPart'; readonly member: ChordMember };

/**
 * A failed task fails the rest of its chain: every id that stands for a link's outcome (a chord's body too) gets
 * FAILURE when the failed task stores failures (`storesFailure`), and a link that is a member of a chord (the last
 * task of a chain in a chord header) fails its part there.
 */
export function chainFailure(f: Finished, storesFailure: boolean): ChainFailure[] {
  const effects: ChainFailure[] = [];
  for (const link of f.embed.chain ?? []) {
    if (storesFailure) for (const id of outcomeIds(link)) effects.push({ kind: 'store', id });
    const { chord, task_id: id, group_id: group, group_index: index } = link.options;
    if (isDict(chord) && typeof id === 'string' && typeof group === 'string') {
      const groupIndex = typeof index === 'number' ? index : null;
      effects.push({ kind: 'chordPart', member: { id, group, groupIndex, chord } });
    }
  }
  return effects;
}

/** The chord part a finished header task stands for, or null when it is not in a chord. */
export function chordMember(f: Finished): ChordMember | null {
  const chord = f.embed.chord;
  if (!chord) return null;
  return { id: f.id, group: f.group, groupIndex: f.groupIndex, chord, rootId: f.rootId };
}

/** Stores the failure for the rest of the chain and fails its chord parts (`chainFailure`). */
export async function failChain(
  deps: ChordDeps,
  f: Finished,
  error: unknown,
  storesFailure: boolean,
): Promise<void> {
  const failure = error instanceof Error ? error : new Error(String(error));
  for (const effect of chainFailure(f, storesFailure)) {
    if (effect.kind === 'chordPart') {
      await onChordPartReturn(deps, effect.member, States.FAILURE, failure);
      continue;
    }
    const meta = buildMeta({
      state: States.FAILURE,
      result: failure,
      request: { taskId: effect.id, parentId: f.id },
    });
    // rpc: the chain's results go to the same caller as this task's.
    await deps.backend.store(meta, { replyTo: f.replyTo, correlationId: effect.id });
  }
}

/**
 * Carries the steps out, in order, and returns their result tuples (the finished task's `children`). Consecutive
 * plain tasks bound for the broker are published together in one `app.sendTasks` call (one round trip); a canvas,
 * or a task that runs here (`taskAlwaysEager`), goes on its own, after the ones before it.
 */
export async function runSteps(app: Celery, steps: readonly NextStep[]): Promise<ResultTuple[]> {
  if (steps.length === 0) return [];
  const results: ResultTuple[] = [];
  let batch: { index: number; call: TaskCall }[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const sent = await app.sendTasks(batch.map((b) => b.call));
    batch.forEach((b, i) => (results[b.index] = sent[i]!.asTuple()));
    batch = [];
  };
  for (const [index, step] of steps.entries()) {
    const call = brokerCall(app, step);
    if (call) {
      batch.push({ index, call });
      continue;
    }
    await flush();
    results[index] = await runAlone(app, step);
  }
  await flush();
  return results;
}

/** The message a step publishes, or null when it is a canvas or runs here. */
function brokerCall(app: Celery, step: NextStep): TaskCall | null {
  if (kindOf(step.sig) !== 'task') return null;
  const eager = app.conf.taskAlwaysEager;
  if (step.how === 'send') {
    if (eager && app.tasks.has(step.sig.task)) return null;
    return { name: step.sig.task, ...sendArguments(step) };
  }
  const { task, name, args, kwargs, options } = prepareTask(app, step.sig, step);
  if (!task) return { name, args, kwargs, options };
  if (eager) return null;
  // What task.applyAsync() checks and adds, for a message published with others.
  if (task.options.typing !== false) checkArity(task, args, kwargs);
  return { name, args, kwargs, options: task.callOptions(options) };
}

/** A `send` step's call: its args (unless immutable) after the step's, options from its dict (Celery's names). */
function sendArguments(step: NextStep): { args: JsonValue[]; kwargs: JsonObject; options: CallOptions } {
  const { sig } = step;
  return {
    args: sig.immutable ? [...sig.args] : [...step.args, ...sig.args],
    kwargs: sig.kwargs,
    options: callOptionsFromSignature({ ...sig.options, ...step.options }),
  };
}

async function runAlone(app: Celery, step: NextStep): Promise<ResultTuple> {
  const task = app.tasks.get(step.sig.task);
  if (step.how === 'send' && task && kindOf(step.sig) === 'task') {
    const { args, kwargs, options } = sendArguments(step);
    return (await app.applyEager(task, args, kwargs, options, true)).asTuple();
  }
  return (await applyDict(app, step.sig, step)).asTuple();
}
