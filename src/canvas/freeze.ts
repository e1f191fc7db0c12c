/**
 * Freezing: giving every task of a canvas its id (and group, chord and lineage options) before anything is sent,
 * so that results can be handed out at once and a chain's later links are known by id. Mirrors the `freeze`
 * methods of `celery/canvas.py` (Signature, _chain.prepare_steps, group, _chord), over plain signature dicts.
 */
import type { Celery } from '../app/celery.js';
import { uuid } from '../protocol/ids.js';
import type { SignatureDict } from '../protocol/message.js';
import { AsyncResult } from '../result/async-result.js';
import { GroupResult, type ResultNode } from '../result/group-result.js';
import type { JsonObject, JsonValue } from '../types.js';
import { appendListOption } from './options.js';

export type CanvasKind = 'task' | 'chain' | 'group' | 'chord' | 'chunks';

function isDict(value: unknown): value is SignatureDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'task' in value;
}

/** A signature dict with every field present (dicts from other producers may leave some out). */
export function normalizeDict(value: unknown, where = 'signature'): SignatureDict {
  if (!isDict(value) || typeof value.task !== 'string') {
    throw new TypeError(
      `${where} is not a signature: expected {task, args, kwargs, options, subtask_type, immutable}, got ${JSON.stringify(value)}`,
    );
  }
  const d = value;
  d.args = Array.isArray(d.args) ? d.args : [];
  d.kwargs = typeof d.kwargs === 'object' && d.kwargs !== null && !Array.isArray(d.kwargs) ? d.kwargs : {};
  d.options =
    typeof d.options === 'object' && d.options !== null && !Array.isArray(d.options) ? d.options : {};
  d.subtask_type = typeof d.subtask_type === 'string' ? d.subtask_type : null;
  d.immutable = d.immutable === true;
  return d;
}

export function kindOf(d: SignatureDict): CanvasKind {
  if (d.subtask_type === 'chain' || d.task === 'celery.chain') return 'chain';
  if (d.subtask_type === 'group' || d.task === 'celery.group') return 'group';
  if (d.subtask_type === 'chord' || d.task === 'celery.chord') return 'chord';
  if (d.task === 'celery.chunks') return 'chunks';
  return 'task';
}

/** The tasks of a chain or group dict, normalized in place. */
export function tasksOf(d: SignatureDict): SignatureDict[] {
  const tasks = d.kwargs.tasks;
  if (!Array.isArray(tasks)) {
    throw new TypeError(`${d.task} signature has no kwargs.tasks list: ${JSON.stringify(d.kwargs)}`);
  }
  const list = tasks.map((t, i) => normalizeDict(t, `${d.task} member ${i}`));
  d.kwargs.tasks = list;
  return list;
}

/** A chord dict's header as a group dict (Celery accepts a list of signatures too) and its body, in place. */
export function chordParts(d: SignatureDict): { header: SignatureDict; body: SignatureDict } {
  let header = d.kwargs.header;
  if (Array.isArray(header)) header = groupDict(header.map((t) => normalizeDict(t, 'chord header member')));
  const h = normalizeDict(header, 'chord header');
  const normalizedHeader = kindOf(h) === 'group' ? h : groupDict([h]);
  d.kwargs.header = normalizedHeader;
  const body = normalizeDict(d.kwargs.body, 'chord body');
  d.kwargs.body = body;
  if (!('kwargs' in d.kwargs)) d.kwargs.kwargs = {};
  return { header: normalizedHeader, body };
}

export function groupDict(tasks: SignatureDict[], options: JsonObject = {}): SignatureDict {
  return {
    task: 'celery.group',
    args: [],
    kwargs: { tasks },
    options,
    subtask_type: 'group',
    immutable: false,
  };
}

export function chainDict(tasks: SignatureDict[], options: JsonObject = {}): SignatureDict {
  return {
    task: 'celery.chain',
    args: [],
    kwargs: { tasks },
    options,
    subtask_type: 'chain',
    immutable: false,
  };
}

export function chordDict(
  header: SignatureDict,
  body: SignatureDict,
  options: JsonObject = {},
): SignatureDict {
  return {
    task: 'celery.chord',
    args: [],
    kwargs: { kwargs: {}, header, body },
    options,
    subtask_type: 'chord',
    immutable: false,
  };
}

export interface FreezeOptions {
  id?: string | undefined;
  groupId?: string | undefined;
  chord?: SignatureDict | undefined;
  rootId?: string | undefined;
  parentId?: string | undefined;
  groupIndex?: number | undefined;
}

function str(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Freezes a dict in place and returns its result handle (a chain's: its last task's, with parents). */
export function freeze(app: Celery, d: SignatureDict, o: FreezeOptions = {}): ResultNode {
  switch (kindOf(d)) {
    case 'chain':
      return prepareSteps(app, d, [], {}, { ...o, mutate: true }).results[0]!;
    case 'group':
    case 'chunks':
      return freezeGroup(app, kindOf(d) === 'chunks' ? chunksToGroup(d) : d, o);
    case 'chord':
      return freezeChord(app, d, o);
    default:
      return freezeTask(app, d, o);
  }
}

function freezeTask(app: Celery, d: SignatureDict, o: FreezeOptions): AsyncResult<unknown> {
  const opts = d.options;
  const id = str(opts.task_id) ?? o.id ?? uuid();
  opts.task_id = id;
  if (o.rootId) opts.root_id = o.rootId;
  if (o.parentId) opts.parent_id = o.parentId;
  if (!('reply_to' in opts)) opts.reply_to = app.oid;
  if (o.groupId && !('group_id' in opts)) opts.group_id = o.groupId;
  if (o.chord) opts.chord = o.chord;
  if (o.groupIndex !== undefined) opts.group_index = o.groupIndex;
  return new AsyncResult(id, app);
}

/** Nested groups are flattened into their parent, as Celery unrolls them. */
export function unrollGroup(tasks: readonly SignatureDict[]): SignatureDict[] {
  const out: SignatureDict[] = [];
  for (const task of tasks) {
    if (kindOf(task) === 'group') out.push(...unrollGroup(tasksOf(task)));
    else out.push(task);
  }
  return out;
}

export function freezeGroup(app: Celery, d: SignatureDict, o: FreezeOptions): GroupResult<unknown[]> {
  const opts = d.options;
  const gid = str(opts.task_id) ?? o.groupId ?? uuid();
  opts.task_id = gid;
  if (o.groupId) opts.group_id = o.groupId;
  if (o.chord) opts.chord = o.chord;
  if (o.groupIndex !== undefined) opts.group_index = o.groupIndex;
  if (!('root_id' in opts)) opts.root_id = o.rootId ?? null;
  if (!('parent_id' in opts)) opts.parent_id = o.parentId ?? null;
  const members = unrollGroup(tasksOf(d));
  d.kwargs.tasks = members;
  const rootId = str(opts.root_id);
  const parentId = str(opts.parent_id);
  const results = members.map((m, i) =>
    freeze(app, m, { groupId: o.groupId, chord: o.chord, rootId, parentId, groupIndex: i }),
  );
  return new GroupResult(gid, results, app);
}

function freezeChord(app: Celery, d: SignatureDict, o: FreezeOptions): ResultNode {
  const { header, body } = chordParts(d);
  // The body first, so that the copies of it the header members carry have its id.
  const bodyResult = freeze(app, body, {
    id: o.id,
    rootId: o.rootId,
    chord: o.chord,
    groupId: o.groupId,
    groupIndex: o.groupIndex,
  });
  const headerResult = freezeGroup(app, header, { parentId: o.parentId, rootId: o.rootId, chord: body });
  linkToRoot(bodyResult, headerResult);
  d.options.task_id = headerResult.id;
  return bodyResult;
}

/** Sets `parent` on the first result without one, walking up from `node` (Celery's chord freeze). */
export function linkToRoot(node: ResultNode, parent: ResultNode): void {
  let current: ResultNode = node;
  const seen = new Set<string>();
  while (current.parent) {
    if (seen.has(current.id)) throw new Error('Recursive result parents');
    seen.add(current.id);
    current = current.parent;
  }
  if (current !== parent) current.parent = parent;
}

/** Splits a chunks dict into its group of `celery.starmap` tasks (Celery's `chunks.group()`). */
export function chunksToGroup(d: SignatureDict): SignatureDict {
  const task = normalizeDict(d.kwargs.task, 'chunks task');
  const it = d.kwargs.it;
  const n = d.kwargs.n;
  if (!Array.isArray(it)) throw new TypeError('chunks: kwargs.it must be a list of argument lists');
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new TypeError(`chunks: the chunk size n must be a positive integer, got ${JSON.stringify(n)}`);
  }
  const parts: SignatureDict[] = [];
  for (let i = 0; i < it.length; i += n) {
    parts.push(mapDict('celery.starmap', task, it.slice(i, i + n)));
  }
  return groupDict(parts, { ...d.options });
}

export function mapDict(
  name: 'celery.map' | 'celery.starmap',
  task: SignatureDict,
  it: JsonValue[],
): SignatureDict {
  return { task: name, args: [], kwargs: { task, it }, options: {}, subtask_type: null, immutable: true };
}

export interface PrepareOptions extends FreezeOptions {
  linkError?: SignatureDict[] | undefined;
  /** Freeze in place (Celery's `clone=False`) instead of working on copies. */
  mutate?: boolean;
}

/** Adds an errback to a dict, reaching every task of a chain or group and the body of a chord. */
export function addErrback(d: SignatureDict, errback: SignatureDict): void {
  switch (kindOf(d)) {
    case 'chain':
    case 'group':
      for (const t of tasksOf(d)) addErrback(t, errback);
      return;
    case 'chord':
      addErrback(chordParts(d).body, errback);
      return;
    default:
      appendListOption(d, 'link_error', errback);
  }
}

/**
 * Adds a callback as Celery's `link` methods do: on a chord to its body; on a group to its first member, made
 * immutable (it cannot get the other members' results: use a chord for that); elsewhere to the signature itself
 * (a chain hands it to its last task when it is sent).
 */
export function addCallback(d: SignatureDict, callback: SignatureDict): void {
  switch (kindOf(d)) {
    case 'chord':
      addCallback(chordParts(d).body, callback);
      return;
    case 'group': {
      const first = tasksOf(d)[0];
      if (first) addCallback(first, { ...structuredClone(callback), immutable: true });
      return;
    }
    default:
      appendListOption(d, 'link', callback);
  }
}

/**
 * `_chain.prepare_steps`: walks the chain backwards, splices nested chains, upgrades a group followed by a task
 * into a chord, freezes each step and links each result to the one before it. Returns the steps last-first (the
 * order of `embed.chain`) and their results (the last task's first).
 */
export function prepareSteps(
  app: Celery,
  chain: SignatureDict,
  args: readonly JsonValue[],
  kwargs: JsonObject,
  o: PrepareOptions,
): { steps: SignatureDict[]; results: ResultNode[] } {
  const pending = [...tasksOf(chain)];
  const steps: SignatureDict[] = [];
  const results: ResultNode[] = [];
  let prevTask: SignatureDict | null = null;
  let prevRes: ResultNode | null = null;
  let i = 0;
  while (pending.length > 0) {
    let task = o.mutate ? pending.pop()! : structuredClone(pending.pop()!);
    const isFirst = pending.length === 0;
    const isLast = i === 0;
    if (kindOf(task) === 'group') {
      const members = tasksOf(task);
      if (members.length === 1) task = members[0]!;
    }
    if (isFirst && !task.immutable && (args.length > 0 || Object.keys(kwargs).length > 0)) {
      task.args = [...args, ...task.args];
      task.kwargs = { ...task.kwargs, ...kwargs };
    }
    if (kindOf(task) === 'chain') {
      pending.push(...tasksOf(task));
      continue;
    }
    if (kindOf(task) === 'group' && prevTask && prevRes) {
      // group(...) | task becomes chord(group, task), as Celery upgrades it.
      steps.pop();
      results.pop();
      const bodyId = prevRes instanceof AsyncResult ? prevRes.id : undefined;
      task = chordDict(task, prevTask);
      if (bodyId) prevTask.options.task_id = bodyId;
    }
    const res = isLast
      ? freeze(app, task, {
          id: o.id,
          rootId: o.rootId,
          groupId: o.groupId,
          chord: o.chord,
          groupIndex: o.groupIndex,
        })
      : freeze(app, task, { rootId: o.rootId });
    i++;
    if (prevRes && !prevRes.parent) prevRes.parent = res;
    for (const errback of o.linkError ?? []) addErrback(task, errback);
    steps.push(task);
    results.push(res);
    prevTask = task;
    prevRes = res;
    if (kindOf(task) === 'chord') {
      let node: ResultNode = res;
      while (node.parent) node = node.parent;
      prevRes = node;
    }
  }
  if (o.mutate) chain.kwargs.tasks = [...steps].reverse();
  return { steps, results };
}

/** How many header parts a member contributes to a chord (`_chord._descend`). */
export function chordSizeOf(d: SignatureDict): number {
  switch (kindOf(d)) {
    case 'group':
      return tasksOf(d).reduce((sum, t) => sum + chordSizeOf(t), 0);
    case 'chain': {
      const tasks = tasksOf(d);
      for (let i = tasks.length - 1; i >= 0; i--) {
        const size = chordSizeOf(tasks[i]!);
        if (size > 0) return size;
      }
      return 0;
    }
    case 'chord':
      return chordSizeOf(chordParts(d).body);
    default:
      return 1;
  }
}

export { isDict };
