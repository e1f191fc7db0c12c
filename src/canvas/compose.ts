/**
 * Composition as Celery's `|` operator (`Signature.__or__`, `_chain.__or__`, `group.__or__`, `_chord.__or__` in
 * `celery/canvas.py`), over signature dicts. `chain(a, b, c)` folds it over its arguments exactly as Celery's
 * `chain.__new__` does, so the same calls build the same canvas in both languages:
 *
 *   task | task   -> chain(task, task)          group | x      -> chord(group, x)
 *   chain | task  -> chain(..., task), or the last group upgraded to chord(group, task), or the task
 *                    appended to the body of a last chord
 *   chain | chain -> one flat chain            chord | task   -> the task appended to the chord's body
 */
import type { SignatureDict } from '../protocol/message.js';
import { addErrback, chainDict, chordDict, chordParts, isDict, kindOf, tasksOf } from './freeze.js';

function unrollOne(group: SignatureDict): SignatureDict {
  const tasks = tasksOf(group);
  return tasks.length === 1 ? tasks[0]! : group;
}

/** A chain's tasks, copied, each given the chain's own errbacks (`_chain.unchain_tasks`). */
function unchain(chain: SignatureDict): SignatureDict[] {
  const tasks = tasksOf(chain).map((t) => structuredClone(t));
  const errbacks = chain.options.link_error;
  const list = Array.isArray(errbacks) ? errbacks.filter(isDict) : [];
  for (const errback of list) for (const task of tasks) addErrback(task, structuredClone(errback));
  return tasks;
}

/** `left | right`, returning a new dict (neither argument is changed). */
export function pipeDicts(left: SignatureDict, right: SignatureDict): SignatureDict {
  const l = structuredClone(left);
  const r = structuredClone(right);
  switch (kindOf(l)) {
    case 'chain':
      return chainOr(l, r);
    case 'group':
      return chordDict(l, r);
    case 'chord':
      if (kindOf(r) !== 'group' && kindOf(r) !== 'chain') {
        const { body } = chordParts(l);
        l.kwargs.body = pipeDicts(body, r);
        return l;
      }
      return signatureOr(l, r);
    default:
      return signatureOr(l, r);
  }
}

function signatureOr(l: SignatureDict, r: SignatureDict): SignatureDict {
  if (kindOf(r) === 'chain') return chainDict([l, ...unchain(r)]);
  if (kindOf(r) === 'group') return chainDict([l, unrollOne(r)]);
  return chainDict([l, r]);
}

function chainOr(l: SignatureDict, r: SignatureDict): SignatureDict {
  const tasks = tasksOf(l);
  if (kindOf(r) === 'group') {
    const other = unrollOne(r);
    return tasks.length === 0 ? other : chainDict([...unchain(l), other]);
  }
  if (kindOf(r) === 'chain') return chainDict([...unchain(l), ...unchain(r)]);
  const last = tasks.at(-1);
  if (last && kindOf(last) === 'group') {
    tasks[tasks.length - 1] = chordDict(last, r);
    return l;
  }
  if (last && kindOf(last) === 'chord') {
    const { body } = chordParts(last);
    last.kwargs.body = pipeDicts(body, r);
    return l;
  }
  return chainDict([...unchain(l), r]);
}

/** `chain(a, b, c)`: `chain() | a | b | c`, as Celery's `chain.__new__`. */
export function foldChain(tasks: readonly SignatureDict[]): SignatureDict {
  return tasks.reduce<SignatureDict>((acc, task) => pipeDicts(acc, task), chainDict([]));
}
