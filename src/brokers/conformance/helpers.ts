/** Test helpers for the broker conformance suite: collect deliveries and await them without sleeping. */
import type { Delivery } from '../broker.js';
import type { WireMessage } from '../../protocol/message.js';

/** Collects what a handler receives (deliveries, or subscription messages). */
export interface Collector<T = Delivery> {
  readonly handler: (item: T) => void;
  readonly received: T[];
  /** Resolves once at least `count` items arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<T[]>;
}

export function collector<T = Delivery>(): Collector<T> {
  const received: T[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const handler = (delivery: T): void => {
    received.push(delivery);
    for (const waiter of [...waiters]) {
      if (received.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  return {
    handler,
    received,
    async waitFor(count, timeoutMs = 10_000) {
      if (received.length < count) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () =>
              reject(new Error(`expected ${count} deliveries, got ${received.length} after ${timeoutMs} ms`)),
            timeoutMs,
          );
          waiters.push({
            count,
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
          });
        });
      }
      return received.slice(0, count);
    },
  };
}

let counter = 0;

/** A message whose body names it, so tests can tell messages apart. */
export function testMessage(label: string, priority?: number): WireMessage {
  counter++;
  return {
    headers: { task: 'conformance.task', id: `${label}-${counter}`, label, nested: { a: [1, 'two', null] } },
    properties: {
      correlation_id: `${label}-${counter}`,
      reply_to: 'reply-oid',
      delivery_mode: 2,
      priority: priority ?? 0,
    },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: Buffer.from(JSON.stringify([[label], {}, {}]), 'utf8'),
  };
}

/** The `label` header of a test message (from `testMessage`). */
export function labelOf(received: { readonly message: WireMessage }): string {
  const label = received.message.headers.label;
  return typeof label === 'string' ? label : JSON.stringify(label);
}

/** Resolves on the next turn after pending I/O, to let a driver deliver anything it was going to. */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
