/**
 * `chord(header, body)`: the body runs once every header task has finished, with the list of their results in
 * header order. Header messages carry the group id, their `group_index` and the body in `embed.chord`; the header
 * size is stored before they are sent, and the worker that records the last part sends the body
 * (`celery/canvas.py _chord`, reference §2.7.5).
 */
import type { Celery } from '../app/celery.js';
import type { CallOptions } from '../app/task.js';
import type { SignatureDict } from '../protocol/message.js';
import type { AsyncResult } from '../result/async-result.js';
import { chordDict, chordParts, groupDict } from './freeze.js';
import type { LinkFrom } from './chain.js';
import type { Group, ResultsOf } from './group.js';
import { registerSignatureKind, Signature, toDict, type AnySignature, type ResultOf } from './signature.js';

export class Chord<R = unknown> extends Signature<unknown[], R, AsyncResult<R>> {
  get header(): AnySignature {
    return Signature.fromDict(chordParts(this.dict).header, this.app);
  }

  get body(): AnySignature {
    return Signature.fromDict(chordParts(this.dict).body, this.app);
  }
}
registerSignatureKind('chord', Chord);

/** What a chord header produces: a group's result tuple, or the results of a list of signatures. */
export type HeaderResult<H> =
  H extends Group<infer R> ? R : H extends readonly unknown[] ? ResultsOf<H> : never;

type Header = Group<unknown[]> | readonly AnySignature[];

function headerDict(header: Header | readonly SignatureDict[]): SignatureDict {
  if (Array.isArray(header))
    return groupDict((header as readonly (AnySignature | SignatureDict)[]).map(toDict));
  return toDict(header as AnySignature);
}

function appOf(
  header: Header | readonly SignatureDict[],
  body: AnySignature | SignatureDict | undefined,
): Celery | undefined {
  if (body instanceof Signature && body.app) return body.app;
  if (header instanceof Signature) return header.app;
  for (const s of header as readonly unknown[]) if (s instanceof Signature && s.app) return s.app;
  return undefined;
}

/** Sends a chord of `header` and the body given later: `chord(header)(body)`, as Celery's `chord(header)(body)`. */
export type ChordStarter<H> = <B extends AnySignature>(
  body: B & LinkFrom<B, HeaderResult<H>>,
  options?: CallOptions,
) => Promise<AsyncResult<ResultOf<B>>>;

/**
 * A chord: `body` receives the header's results. `chord(header)` alone returns a function that sends the chord
 * with the body it is given. A body that cannot take the header's results fails to compile.
 */
export function chord<H extends Header, B extends AnySignature>(
  header: H,
  body: B & LinkFrom<B, HeaderResult<H>>,
): Chord<ResultOf<B>>;
export function chord<H extends Header>(header: H): ChordStarter<H>;
export function chord(header: readonly SignatureDict[], body: SignatureDict): Chord;
export function chord(
  header: Header | readonly SignatureDict[],
  body?: AnySignature | SignatureDict,
): Chord | ChordStarter<Header> {
  if (body === undefined) {
    return (later: AnySignature, options: CallOptions = {}) =>
      chord(header as Header, later as never).applyAsync([], {}, options);
  }
  return new Chord(appOf(header, body), chordDict(headerDict(header), toDict(body)));
}
