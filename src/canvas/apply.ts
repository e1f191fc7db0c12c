/**
 * Sending a canvas: one function for every signature dict, whoever built it (this app, a Python producer, the
 * `embed.chain` of a received message). Mirrors `apply_async` / `run` of `celery/canvas.py`: a chain sends its
 * first task with the rest reversed in `embed.chain`; a group sends every member with the group id; a chord
 * stores its header size, then sends the header members with the body in `embed.chord`.
 */
import type { Celery } from '../app/celery.js';
import { callOptionsFromSignature } from '../app/publish.js';
import type { CallOptions, Task } from '../app/task.js';
import type { ChordCounter } from '../backends/backend.js';
import { ImproperlyConfigured } from '../errors.js';
import { uuid } from '../protocol/ids.js';
import type { SignatureDict } from '../protocol/message.js';
import type { AsyncResult } from '../result/async-result.js';
import { GroupResult, type ResultNode } from '../result/group-result.js';
import type { JsonObject, JsonValue } from '../types.js';
import {
  chordParts,
  chordSizeOf,
  chunksToGroup,
  groupDict,
  freeze,
  freezeGroup,
  isDict,
  kindOf,
  linkToRoot,
  prepareSteps,
  tasksOf,
  unrollGroup,
} from './freeze.js';

/** How many group members are being sent at once. */
const PUBLISH_SLICE = 500;

/** What is added to a signature when it is sent: partial args (prepended), kwargs and options (merged). */
export interface ApplyExtra {
  args?: readonly JsonValue[] | undefined;
  kwargs?: JsonObject | undefined;
  options?: JsonObject | undefined;
}

function str(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function sigList(value: JsonValue | undefined): SignatureDict[] | undefined {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : [value];
  return list.filter(isDict);
}

/** Sends a signature dict (a copy: the dict itself is not changed) and returns its result handle. */
export function applyDict(app: Celery, d: SignatureDict, extra: ApplyExtra = {}): Promise<ResultNode> {
  const sig = structuredClone(d);
  switch (kindOf(sig)) {
    case 'chain':
      return applyChain(app, sig, extra);
    case 'group':
      return applyGroup(app, sig, extra);
    case 'chunks':
      return applyGroup(app, chunksToGroup(sig), extra);
    case 'chord':
      return applyChord(app, sig, extra);
    default:
      return applyTask(app, sig, extra);
  }
}

/** Merges partial args, kwargs and options into a task dict (Celery's `Signature._merge`). */
function merge(
  d: SignatureDict,
  extra: ApplyExtra,
): { args: JsonValue[]; kwargs: JsonObject; options: JsonObject } {
  const options: JsonObject = { ...d.options };
  for (const [key, value] of Object.entries(extra.options ?? {})) {
    // group_id is immutable once set: a member keeps the group it was frozen into.
    if (key === 'group_id' && 'group_id' in d.options) continue;
    options[key] = value;
  }
  if (d.immutable) return { args: d.args, kwargs: d.kwargs, options };
  return {
    args: [...(extra.args ?? []), ...d.args],
    kwargs: { ...d.kwargs, ...extra.kwargs },
    options,
  };
}

function taskCallOptions(options: JsonObject): CallOptions {
  const call = callOptionsFromSignature(options);
  const chain = sigList(options.chain);
  if (chain && chain.length > 0) call.chain = chain;
  if (options.retry === false || options.retry === true) call.retry = options.retry;
  if (typeof options.argsrepr === 'string') call.argsrepr = options.argsrepr;
  if (typeof options.kwargsrepr === 'string') call.kwargsrepr = options.kwargsrepr;
  if (options.delivery_mode === 1 || options.delivery_mode === 2) call.deliveryMode = options.delivery_mode;
  return call;
}

/** A task dict as the call it makes: the merged arguments and options, and the task when it is registered here. */
export interface PreparedTask {
  readonly task: Task<unknown[], unknown> | undefined;
  readonly name: string;
  readonly args: JsonValue[];
  readonly kwargs: JsonObject;
  readonly options: CallOptions;
}

export function prepareTask(app: Celery, d: SignatureDict, extra: ApplyExtra): PreparedTask {
  const { args, kwargs, options } = merge(d, extra);
  return { task: app.tasks.get(d.task), name: d.task, args, kwargs, options: taskCallOptions(options) };
}

async function applyTask(app: Celery, d: SignatureDict, extra: ApplyExtra): Promise<AsyncResult<unknown>> {
  const { task, name, args, kwargs, options } = prepareTask(app, d, extra);
  if (task) return task.applyAsync(args, kwargs, options);
  return app.sendTask(name, args, kwargs, options);
}

/** Options a chain consumes itself (they describe its last task or its place in a group), not its first task's. */
const CHAIN_OWN = ['group_id', 'chord', 'task_id', 'link', 'link_error', 'root_id', 'group_index'];

async function applyChain(app: Celery, d: SignatureDict, extra: ApplyExtra): Promise<ResultNode> {
  const args = d.immutable ? d.args : [...(extra.args ?? []), ...d.args];
  const options: JsonObject = { ...d.options, ...extra.options };
  if (app.conf.taskAlwaysEager) return applyChainEagerly(app, d, args, extra);
  const { steps, results } = prepareSteps(app, d, args, extra.kwargs ?? {}, {
    id: str(options.task_id),
    groupId: str(options.group_id),
    chord: isDict(options.chord) ? options.chord : undefined,
    rootId: str(options.root_id),
    groupIndex: typeof options.group_index === 'number' ? options.group_index : undefined,
    linkError: sigList(options.link_error),
  });
  if (steps.length === 0) throw new TypeError('chain() needs at least one signature');
  for (const callback of sigList(options.link) ?? []) {
    const last = steps[0]!;
    const links = sigList(last.options.link) ?? [];
    last.options.link = [...links, callback];
  }
  const first = steps.pop()!;
  const own: JsonObject = {};
  for (const [key, value] of Object.entries(options)) if (!CHAIN_OWN.includes(key)) own[key] = value;
  const outer = sigList(options.chain) ?? [];
  own.chain = [...outer, ...steps];
  const sent = await applyDict(app, first, { options: own });
  return steps.length === 0 ? sent : results[0]!;
}

async function applyGroup(app: Celery, d: SignatureDict, extra: ApplyExtra): Promise<GroupResult<unknown[]>> {
  const given = extra.options ?? {};
  if (given.link !== undefined && given.link !== null) {
    throw new TypeError('Cannot add link to group: use a chord (group members finish separately)');
  }
  if (given.link_error !== undefined && given.link_error !== null) {
    throw new TypeError(
      'Cannot add link_error to group: add it to the individual tasks (group.linkError does)',
    );
  }
  const options: JsonObject = { ...d.options, ...given };
  const groupId = str(options.task_id) ?? uuid();
  delete options.task_id;
  options.group_id = groupId;
  const rootId = str(options.root_id);
  const chord = isDict(options.chord) ? options.chord : undefined;
  const members = unrollGroup(tasksOf(d));
  const frozen = members.map((m) => {
    freeze(app, m, { groupId, rootId });
    return m;
  });
  if (chord && members.length > 0) {
    const counter = await chordCounterFor(app);
    // Before any header task is sent (Celery: before the last one), so that no part can ever find it missing.
    await counter.setChordSize(
      groupId,
      members.reduce((sum, m) => sum + chordSizeOf(m), 0),
    );
  }
  const results: ResultNode[] = [];
  // Sent in slices: each slice's publishes go out together (pipelined by the driver), without holding a whole
  // huge group in flight at once.
  for (let i = 0; i < frozen.length; i += PUBLISH_SLICE) {
    const slice = frozen.slice(i, i + PUBLISH_SLICE);
    results.push(
      ...(await Promise.all(
        slice.map((m) => applyDict(app, m, { args: extra.args, kwargs: extra.kwargs, options })),
      )),
    );
  }
  return new GroupResult(groupId, results, app);
}

/** The backend's chord counter, or an error naming a backend that has one. */
export async function chordCounterFor(app: Celery): Promise<ChordCounter> {
  const backend = await app.getBackend();
  if (backend.capabilities.chords === 'none' || !backend.chordCounter) {
    throw new ImproperlyConfigured(
      `The result backend ${backend.url} does not support chords (as in Celery, rpc:// and a disabled backend ` +
        'cannot join a chord): configure a redis://, sqlite:// or memory:// result backend to use chords',
    );
  }
  return backend.chordCounter;
}

async function applyChord(app: Celery, d: SignatureDict, extra: ApplyExtra): Promise<ResultNode> {
  const { header, body } = chordParts(d);
  const partialArgs = d.immutable ? d.args : [...(extra.args ?? []), ...d.args];
  if (app.conf.taskAlwaysEager) {
    // Celery's chord.apply: the header runs here, then the body with its results (a failure is thrown).
    const members = unrollGroup(tasksOf(header)).map((m) => structuredClone(m));
    const headerResult = await applyGroup(app, groupDict(members), { args: partialArgs });
    const values = await headerResult.get();
    const bodyResult = await applyDict(app, body, { args: [values as JsonValue] });
    linkToRoot(bodyResult, headerResult);
    return bodyResult;
  }
  const overrideBody = extra.kwargs?.body;
  const theBody = isDict(overrideBody) ? structuredClone(overrideBody) : body;
  const options: JsonObject = { ...d.options, ...extra.options };
  const taskId = str(options.task_id);
  delete options.task_id;
  const groupId = str(header.options.task_id) ?? uuid();
  const rootId = str(theBody.options.root_id);
  // The chord's own options (chain continuation, parent, priority...) go to the body, which runs last.
  Object.assign(theBody.options, options);
  const bodyResult = freeze(app, theBody, { id: taskId, rootId });
  delete options.chain;
  delete options.chord;
  const headerResult = freezeGroup(app, header, { groupId, chord: theBody, rootId });
  if (tasksOf(header).length === 0) {
    await applyDict(app, theBody, { args: [[]] });
    linkToRoot(bodyResult, headerResult);
    return bodyResult;
  }
  await chordCounterFor(app);
  header.options.task_id = groupId;
  const sent = await applyGroup(app, header, {
    args: partialArgs,
    options: { ...options, task_id: groupId },
  });
  linkToRoot(bodyResult, sent);
  return bodyResult;
}

/**
 * Celery's `chain.apply` (with `taskAlwaysEager`): each link runs here, in order, with the previous result; the
 * chain stops at a failure, and its result is the last link that ran.
 */
async function applyChainEagerly(
  app: Celery,
  d: SignatureDict,
  args: readonly JsonValue[],
  extra: ApplyExtra,
): Promise<ResultNode> {
  const { steps } = prepareSteps(app, d, args, extra.kwargs ?? {}, {});
  let last: ResultNode | null = null;
  for (const step of steps.reverse()) {
    const previous: ResultNode | null = last;
    const input = previous ? { args: [(await previous.get()) as JsonValue] } : {};
    const result = await applyDict(app, step, input);
    if (previous && !result.parent) result.parent = previous;
    last = result;
    if (await result.failed()) break;
  }
  if (!last) throw new TypeError('chain() needs at least one signature');
  return last;
}
