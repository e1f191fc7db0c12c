/**
 * What the worker and its pool children (threads or processes) say to each other, and how errors cross between
 * them. Messages travel by structured clone (worker_threads, and child_process with `serialization: 'advanced'`),
 * always in batches: everything one side queues within a turn of its event loop goes as one array, so a task's log
 * lines and its result share one write.
 */
import type { TaskRequest } from '../../app/context.js';
import * as errors from '../../errors.js';
import { CeleriacError, isCeleriacError } from '../../errors.js';

/** An Error as plain data: enough to rebuild it on the other side so that `isCeleriacError` still works. */
export interface ErrorData {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  /** Whether it was a Celeriac error (branded), rebuilt as the class of that name where there is one. */
  readonly celeriac: boolean;
  /** Own enumerable properties (`pyArgs`, `exc`, `when`, `requeue`, `reason`, ...), errors among them as data. */
  readonly props: Record<string, unknown>;
}

/** What the worker asks a child to do. */
export type ToChild =
  | { readonly t: 'run'; readonly jobId: number; readonly name: string; readonly request: TaskRequest }
  | { readonly t: 'abort'; readonly jobId: number; readonly soft: number }
  | { readonly t: 'reply'; readonly callId: number; readonly ok: true; readonly value: unknown }
  | { readonly t: 'reply'; readonly callId: number; readonly ok: false; readonly error: ErrorData }
  /** Finish nothing more and exit (recycling, shrinking, shutdown, hard time limit). */
  | { readonly t: 'exit' };

/** Who a child's call is for: the worker's broker or backend, or the running job (updateState). */
export type CallTarget = 'broker' | 'backend' | 'job';

/** What a child tells the worker. */
export type FromChild =
  | { readonly t: 'ready'; readonly pid: number }
  /** The child could not start (its app module failed to load); it exits after sending this. */
  | { readonly t: 'fatal'; readonly error: ErrorData }
  | {
      readonly t: 'done';
      readonly jobId: number;
      readonly ok: true;
      readonly value: unknown;
      /** KiB: resident set size (prefork) or V8 heap plus external memory of the thread (threads). */
      readonly memory: number;
    }
  | {
      readonly t: 'done';
      readonly jobId: number;
      readonly ok: false;
      readonly error: ErrorData;
      readonly memory: number;
    }
  /** One pino JSON line, re-logged by the worker under the child's process name. */
  | { readonly t: 'log'; readonly line: string }
  | {
      readonly t: 'call';
      readonly callId: number;
      readonly target: CallTarget;
      readonly method: string;
      readonly args: readonly unknown[];
      readonly jobId?: number;
    };

/** What the worker passes to a starting child (worker_threads `workerData`, or an environment variable). */
export interface ChildInit {
  readonly kind: 'threads' | 'prefork';
  /** `path[:name]` of the module exporting the app, absolute. */
  readonly appModule: string;
  /** 1-based pool process index (Celery's `%i`). */
  readonly index: number;
  /** `ForkPoolWorker-3`, `ThreadPoolWorker-3`. */
  readonly name: string;
  /** The worker's node name: the `origin` of messages sent from tasks. */
  readonly hostname: string;
  readonly logLevel: string;
  readonly broker: { readonly url: string; readonly capabilities: unknown };
  readonly backend: { readonly url: string; readonly capabilities: unknown } | null;
}

/** The environment variable carrying `ChildInit` to a prefork child. */
export const CHILD_INIT_ENV = 'CELERIAC_POOL_CHILD';

const MAX_DEPTH = 4;

/** Converts nested errors in a property value to data; other values are left for structured clone. */
function propToData(value: unknown, depth: number): unknown {
  if (value instanceof Error) return { __celeriacError: errorToData(value, depth + 1) };
  return value;
}

export function errorToData(error: unknown, depth = 0): ErrorData {
  if (!(error instanceof Error)) {
    // A thrown non-Error (a string, an object): keep its value visible, as the in-process pools do.
    return {
      name: 'Error',
      message: typeof error === 'string' ? error : safeString(error),
      stack: undefined,
      celeriac: false,
      props: {},
    };
  }
  const props: Record<string, unknown> = {};
  if (depth < MAX_DEPTH) {
    for (const [key, value] of Object.entries(error)) {
      if (key === 'name' || key === 'message' || key === 'stack') continue;
      if (typeof value === 'function' || typeof value === 'symbol') continue;
      props[key] = propToData(value, depth);
    }
  }
  return {
    name: error.name,
    message: error.message,
    stack: error.stack,
    celeriac: isCeleriacError(error),
    props,
  };
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

type ErrorClass = abstract new (...args: never[]) => CeleriacError;

/** Every Celeriac error class by name, so a rebuilt `TimeLimitExceeded` keeps its Python module. */
const CLASSES = new Map<string, ErrorClass>();
for (const value of Object.values(errors) as unknown[]) {
  if (typeof value !== 'function') continue;
  const cls = value as ErrorClass;
  if (cls === CeleriacError || cls.prototype instanceof CeleriacError) CLASSES.set(cls.name, cls);
}

function isErrorEnvelope(value: unknown): value is { __celeriacError: ErrorData } {
  return typeof value === 'object' && value !== null && '__celeriacError' in value;
}

/** Rebuilds an error from data: the Celeriac class of that name where there is one, else a plain Error. */
export function errorFromData(data: ErrorData): Error {
  const cls = data.celeriac ? (CLASSES.get(data.name) ?? CeleriacError) : undefined;
  const error = cls ? (Object.create(cls.prototype as object) as Error) : new Error(data.message);
  const define = (key: string, value: unknown): void => {
    Object.defineProperty(error, key, { value, writable: true, configurable: true, enumerable: false });
  };
  define('message', data.message);
  define('name', data.name);
  define('stack', data.stack ?? `${data.name}: ${data.message}`);
  for (const [key, value] of Object.entries(data.props)) {
    (error as unknown as Record<string, unknown>)[key] = isErrorEnvelope(value)
      ? errorFromData(value.__celeriacError)
      : value;
  }
  return error;
}

/**
 * Structured clone turns a Buffer into a plain Uint8Array; put the Buffer back where the receiver needs one
 * (a published message body).
 */
export function asBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError('expected a Buffer or Uint8Array');
}

/**
 * Coalesces messages queued within one turn of the event loop into one write. `write` may throw (a value that
 * cannot be cloned); then each message is retried alone and `onUnsendable` decides what replaces the bad one.
 */
export class Outbox<M> {
  private queue: M[] = [];
  private scheduled = false;

  constructor(
    private readonly write: (batch: M[]) => void,
    private readonly onUnsendable: (message: M, error: unknown) => M | undefined,
  ) {}

  push(message: M): void {
    this.queue.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes everything queued now. */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    try {
      this.write(batch);
    } catch {
      for (const message of batch) this.writeOne(message);
    }
  }

  private writeOne(message: M): void {
    try {
      this.write([message]);
    } catch (error) {
      const replacement = this.onUnsendable(message, error);
      if (replacement === undefined) return;
      try {
        this.write([replacement]);
      } catch {
        // The channel itself is gone: the other side's exit handling takes over.
      }
    }
  }
}
