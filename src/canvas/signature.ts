/**
 * Signatures (Celery's `Signature`, `celery/canvas.py`): a task call that can be passed around, stored, sent later
 * or composed into chains, groups and chords. A signature is its dict form (reference §2.2.4) plus the app that
 * sends it, so `toJSON()` and `Signature.fromDict()` carry it across processes and languages unchanged.
 *
 * Type parameters: `A` is what is still to be given when the signature is called (`add.s(2)` of `add(x, y)`
 * still takes `x`: partial args are prepended, as in Celery), `R` is the task's result, and `H` the handle that
 * sending it returns (an AsyncResult, or a GroupResult for groups).
 */
import type { Celery } from '../app/celery.js';
import type { CallOptions } from '../app/task.js';
import type { SignatureDict } from '../protocol/message.js';
import type { AsyncResult } from '../result/async-result.js';
import type { ResultNode } from '../result/group-result.js';
import type { JsonObject, JsonValue } from '../types.js';
import { applyDict } from './apply.js';
import { pipeDicts } from './compose.js';
import { addCallback, addErrback, freeze, kindOf, normalizeDict, type CanvasKind } from './freeze.js';
import { appendListOption, toSignatureOptions } from './options.js';
import type { Chain, LinkFrom } from './chain.js';

/** Anything a composition accepts: every signature is assignable to it. */
export type AnySignature = Signature<unknown[], unknown, ResultNode>;

/** The result type of a signature. */
export type ResultOf<S> = S extends Signature<infer _A, infer R, infer _H> ? R : never;

/** What sending a signature resolves to: an AsyncResult, or a GroupResult for a group. */
export type HandleOf<S> = S extends Signature<infer _A, infer _R, infer H> ? H : never;

/** The arguments a signature still takes. */
export type ArgsOf<S> = S extends Signature<infer A, infer _R, infer _H> ? A : never;

type SignatureClass = new (app: Celery | undefined, dict: SignatureDict) => AnySignature;
const kinds = new Map<CanvasKind, SignatureClass>();

/** Lets the composition modules (chain.ts, group.ts, chord.ts) give `fromDict` their classes. */
export function registerSignatureKind(kind: CanvasKind, cls: SignatureClass): void {
  kinds.set(kind, cls);
}

export class Signature<A extends unknown[] = unknown[], R = unknown, H extends ResultNode = AsyncResult<R>> {
  protected readonly dict: SignatureDict;
  /** Type-level only (never set): carries `R` so that chains and chords can check what flows between tasks. */
  declare readonly resultType?: R;

  constructor(
    /** The app that sends it; a signature made with `signature(name)` gets one from `bind` or its composition. */
    public app: Celery | undefined,
    dict: SignatureDict,
  ) {
    this.dict = normalizeDict(dict);
  }

  /**
   * Rebuilds a signature (of the right kind: chain, group, chord, ...) from its dict form or its JSON text, e.g.
   * one received from Python.
   */
  static fromDict<A extends unknown[] = unknown[], R = unknown>(
    dict: SignatureDict | string,
    app?: Celery,
  ): Signature<A, R, ResultNode> {
    const parsed = typeof dict === 'string' ? (JSON.parse(dict) as SignatureDict) : structuredClone(dict);
    const d = normalizeDict(parsed);
    const cls = kinds.get(kindOf(d)) ?? Signature;
    return new cls(app, d) as unknown as Signature<A, R, ResultNode>;
  }

  /** Sets the app that sends this signature; returns this signature. */
  bind(app: Celery): this {
    this.app = app;
    return this;
  }

  /** The app, or an error saying how to give it one. */
  protected requireApp(): Celery {
    if (!this.app) {
      throw new TypeError(
        `Signature ${this.dict.task} has no app to send it with: create it with app.signature() or task.s(), ` +
          'or call sig.bind(app) first',
      );
    }
    return this.app;
  }

  /** The task name (`celery.chain`, `celery.group`, `celery.chord` for compositions). */
  get task(): string {
    return this.dict.task;
  }

  get name(): string {
    return this.dict.task;
  }

  get args(): readonly JsonValue[] {
    return this.dict.args;
  }

  get kwargs(): Readonly<JsonObject> {
    return this.dict.kwargs;
  }

  /** The calling options, in Celery's dict form (snake_case). */
  get options(): Readonly<JsonObject> {
    return this.dict.options;
  }

  get immutable(): boolean {
    return this.dict.immutable;
  }

  get subtaskType(): string | null {
    return this.dict.subtask_type;
  }

  /** The task id, once frozen or set with `set({ taskId })`. */
  get id(): string | undefined {
    const id = this.dict.options.task_id;
    return typeof id === 'string' ? id : undefined;
  }

  /** Merges calling options into this signature (Celery's `sig.set(...)`); returns this signature. */
  set(options: CallOptions & { immutable?: boolean }): this {
    const { immutable, ...rest } = options;
    if (immutable !== undefined) this.dict.immutable = immutable;
    Object.assign(this.dict.options, toSignatureOptions(rest));
    return this;
  }

  /** A deep copy, with partial args prepended, kwargs and options merged (Celery's `clone`). */
  clone(
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): this {
    const d = structuredClone(this.dict);
    if (!d.immutable) {
      d.args = [...(args as JsonValue[]), ...d.args];
      d.kwargs = { ...d.kwargs, ...(kwargs as JsonObject) };
    }
    Object.assign(d.options, toSignatureOptions(options));
    const Ctor = this.constructor as new (app: Celery | undefined, dict: SignatureDict) => this;
    return new Ctor(this.app, d);
  }

  /**
   * Adds a callback, called with this task's result (`link`): on a chain with its last result, on a chord with
   * its body's; on a group it is added (immutable) to the first member, as Celery does. Returns this signature.
   */
  link(callback: AnySignature | SignatureDict): this {
    addCallback(this.dict, toDict(callback));
    return this;
  }

  /**
   * Adds an errback, called with the failed task's id when it fails (`link_error`). On a chain or group it is
   * added to every task, on a chord to the body. Returns this signature.
   */
  linkError(errback: AnySignature | SignatureDict): this {
    addErrback(this.dict, toDict(errback));
    return this;
  }

  /** Celery's `on_error`: the same as `linkError`. */
  onError(errback: AnySignature | SignatureDict): this {
    return this.linkError(errback);
  }

  /** Assigns ids now (without sending) and returns the handle the result will have. */
  freeze(taskId?: string): H {
    return freeze(this.requireApp(), this.dict, { id: taskId }) as H;
  }

  /** Sends it: partial args are prepended to the signature's, kwargs and options merged. */
  async applyAsync(
    args?: A,
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<H> {
    return (await applyDict(this.requireApp(), this.dict, {
      args: (args ?? []) as JsonValue[],
      kwargs: kwargs as JsonObject,
      options: toSignatureOptions(options),
    })) as H;
  }

  /** Sends it with the remaining positional arguments. */
  delay(...args: A): Promise<H> {
    return this.applyAsync(args);
  }

  /**
   * Chains another signature after this one: it receives this one's result (Python's `a | b`, with its rules: a
   * group followed by a task becomes a chord, a task after a chord joins its body).
   */
  pipe<S extends AnySignature>(next: S & LinkFrom<S, R>): Chain<A, ResultOf<S>, HandleOf<S>> {
    const piped = pipeDicts(this.dict, toDict(next));
    return Signature.fromDict(piped, this.app ?? next.app) as unknown as Chain<A, ResultOf<S>, HandleOf<S>>;
  }

  /** The dict form (a copy), for `link`, messages and JSON. */
  toDict(): SignatureDict {
    return structuredClone(this.dict);
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  toString(): string {
    return `${this.dict.task}(${this.dict.args.map((a) => JSON.stringify(a)).join(', ')})`;
  }
}

export function toDict(sig: AnySignature | SignatureDict): SignatureDict {
  return sig instanceof Signature ? sig.toDict() : normalizeDict(structuredClone(sig));
}

/** Appends to a list option, for the composition classes. */
export function appendTo(dict: SignatureDict, key: 'link' | 'link_error', value: SignatureDict): void {
  appendListOption(dict, key, value);
}

/**
 * A signature of a task by name (Celery's `signature('tasks.add', args=(2, 2))`), for tasks this process does not
 * define (a Python task, say). It is sent by the app of the composition it joins, or by `bind(app)`; or use
 * `app.signature(...)`. A dict (or its JSON text) gives back the signature it describes.
 */
export function signature<R = unknown>(
  name: string | SignatureDict,
  args: readonly unknown[] = [],
  kwargs: Readonly<Record<string, unknown>> = {},
  options: CallOptions & { immutable?: boolean } = {},
  app?: Celery,
): Signature<unknown[], R> {
  if (typeof name !== 'string') return Signature.fromDict(name, app) as Signature<unknown[], R>;
  if (name === '') throw new TypeError('signature() needs a task name, such as "tasks.add"');
  const { immutable, ...rest } = options;
  return new Signature<unknown[], R>(app, {
    task: name,
    args: [...(args as JsonValue[])],
    kwargs: { ...(kwargs as JsonObject) },
    options: toSignatureOptions(rest),
    subtask_type: null,
    immutable: immutable ?? false,
  });
}
