/** Test helpers for the broker conformance suite: collect deliveries and await them without sleeping. */
import type { Delivery, DeliveryHandler } from '../broker.js';
import type { WireMessage } from '../../protocol/message.js';

export interface Collector {
  readonly handler: DeliveryHandler;
  readonly received: Delivery[];
  /** Resolves once at least `count` deliveries arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<Delivery[]>;
}

export function collector(): Collector {
  const received: Delivery[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const handler: DeliveryHandler = (delivery) => {
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

export function labelOf(delivery: Delivery): string {
  const label = delivery.message.headers.label;
  return typeof label === 'string' ? label : JSON.stringify(label);
}

/** Resolves on the next turn after pending I/O, to let a driver deliver anything it was going to. */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
