/** Waiting for a result on backends without push: poll with growing intervals, woken early by in-process writes. */
import type { EventEmitter } from 'node:events';
import { TimeoutError } from '../errors.js';
import { isReadyState, type ResultMeta } from '../types.js';
import type { WaitOptions } from './backend.js';
import { encodeJson } from '../protocol/serializers/json.js';

/**
 * What tells one progress update from the next: a `PROGRESS` meta stored twice with new values is two updates (each
 * reaches `onProgress`, as every message reaches Celery's `on_message`); the same stored meta seen twice (the read
 * after subscribing, then its message) is one.
 */
export function progressKey(meta: ResultMeta): string {
  return encodeJson([meta.status, meta.result, meta.date_done]);
}

export async function pollUntilReady(
  taskId: string,
  read: () => Promise<ResultMeta | null> | ResultMeta | null,
  options: WaitOptions,
  notifier?: EventEmitter,
): Promise<ResultMeta> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const maxInterval = options.intervalMs ?? 100;
  let interval = Math.min(5, maxInterval);
  let last: string | undefined;
  for (;;) {
    const meta = await read();
    if (meta) {
      if (isReadyState(meta.status)) return meta;
      if (progressKey(meta) !== last) {
        last = progressKey(meta);
        options.onProgress?.(meta);
      }
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new TimeoutError(`The operation timed out waiting for task ${taskId}`);
    if (options.signal?.aborted) throw options.signal.reason;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        notifier?.off(taskId, done);
        options.signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(interval, remaining));
      notifier?.on(taskId, done);
      options.signal?.addEventListener('abort', done, { once: true });
    });
    interval = Math.min(maxInterval, interval * 2);
  }
}
