/** Small async primitives shared by the worker, the drivers and the tests. */

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      // The abort reason is whatever the caller aborted with (usually an Error); pass it on unchanged.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Like `delay`, but resolves (instead of rejecting) when the signal aborts. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, signal).catch(() => undefined);
}

/**
 * Coalesces every item added before the next turn of the event loop into one call of `flushFn`.
 * Used to batch acknowledgements and result writes: one round trip for many deliveries.
 * Batches are written one after another, in order; a failed batch rejects only its own items.
 */
export class Batcher<T> {
  private items: T[] = [];
  private waiters: Deferred<void>[] = [];
  private scheduled = false;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly flushFn: (items: T[]) => Promise<void>) {}

  /** Queues `item`; the promise settles when its batch has been written. */
  add(item: T): Promise<void> {
    this.items.push(item);
    const waiter = deferred();
    this.waiters.push(waiter);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
    return waiter.promise;
  }

  /** Writes everything queued so far; resolves once every batch queued until now has settled. */
  flush(): Promise<void> {
    this.scheduled = false;
    if (this.items.length > 0) {
      const batch = this.items;
      const waiters = this.waiters;
      this.items = [];
      this.waiters = [];
      this.tail = this.tail.then(async () => {
        try {
          await this.flushFn(batch);
          for (const waiter of waiters) waiter.resolve();
        } catch (error) {
          for (const waiter of waiters) waiter.reject(error);
        }
      });
    }
    return this.tail;
  }
}

/**
 * Resolves when `promise` settles (either way) or after `ms`, whichever comes first, calling `onLate` in the second
 * case; never rejects. For a wait that must not block forever on something that may hang (the timer does not keep
 * the process alive).
 */
export function settledWithin(promise: Promise<unknown>, ms: number, onLate: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      onLate();
      resolve();
    }, ms);
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}
