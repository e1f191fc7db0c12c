/**
 * The port through which app/ reaches canvas/, which sits above it (canvas/ imports app/, never the reverse).
 * app/ needs two things from canvas/: building signatures (`task.s()`, `task.si()`, `task.map()`,
 * `task.starmap()`, `task.chunks()`, `app.signature()`), and running what comes next after an eager run (link
 * callbacks, the next chain link, link errors). app/ defines the port here; canvas/port.ts implements it and
 * installs it when it is loaded. src/index.ts loads it, so every program that uses the public API has it.
 *
 * The types travel the same way: `CanvasTypes` is empty here and canvas/port.ts fills it in by declaration
 * merging, so `add.s(2)` is typed as canvas's `Signature<[x: number], number>` without app/ importing canvas/.
 */
import { ImproperlyConfigured } from '../errors.js';
import type { SignatureDict } from '../protocol/message.js';
import type { ResultTuple } from '../types.js';
import type { Celery } from './celery.js';
import type { TaskRequest } from './context.js';
import type { CallOptions } from './task.js';

/**
 * The signature types of canvas/, by what they are built from: `signature` is the signature of a task taking `A`
 * and returning `R`, `chunks` the `task.chunks()` signature of a task returning `R`. Filled in by canvas/port.ts.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unused-vars
export interface CanvasTypes<A extends unknown[], R> {}

/** canvas's `Signature<A, R>`. */
export type SignatureOf<A extends unknown[], R> = CanvasTypes<A, R>['signature'];

/** canvas's `Chunks<R>`. */
export type ChunksOf<R> = CanvasTypes<unknown[], R>['chunks'];

/** What app/ asks of canvas/. */
export interface CanvasPort {
  /** A signature of a task dict (`task.s()`, `task.si()`). */
  signature<A extends unknown[], R>(app: Celery, dict: SignatureDict): SignatureOf<A, R>;
  /** `app.signature(name | dict, args, kwargs, options)`: a signature by task name, or rebuilt from a dict. */
  byName<R>(
    app: Celery,
    name: string | SignatureDict,
    args: readonly unknown[],
    kwargs: Readonly<Record<string, unknown>>,
    options: CallOptions & { immutable?: boolean },
  ): SignatureOf<unknown[], R>;
  /** `task.map(it)` / `task.starmap(it)`: one `celery.map` / `celery.starmap` message. */
  map<R>(
    app: Celery,
    kind: 'celery.map' | 'celery.starmap',
    task: SignatureDict,
    it: Iterable<unknown>,
  ): SignatureOf<unknown[], R[]>;
  /** `task.chunks(it, n)`. */
  chunks<R>(app: Celery, task: SignatureDict, it: Iterable<readonly unknown[]>, n: number): ChunksOf<R>;
  /** After an eager run succeeded: its link callbacks and next chain link, run or sent; their result tuples. */
  afterSuccess(app: Celery, request: TaskRequest, value: unknown): Promise<ResultTuple[]>;
  /** After an eager run failed: its link errors, run or sent. */
  afterFailure(app: Celery, request: TaskRequest): Promise<void>;
}

let installed: CanvasPort | undefined;

/** Called once by canvas/port.ts when it is loaded. */
export function installCanvas(port: CanvasPort): void {
  installed = port;
}

/** The installed canvas, or an error saying how to load it. */
export function canvas(): CanvasPort {
  if (!installed) {
    throw new ImproperlyConfigured(
      'Signatures and eager follow-ups need the canvas module, which is not loaded: import Celeriac from its ' +
        "public entry point ('celeriac', src/index.ts), not from an internal file",
    );
  }
  return installed;
}
