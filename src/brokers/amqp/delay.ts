/**
 * Long ETAs without `consumer_timeout` deaths (reference Part 3 item 3, battery B14).
 *
 * Celery holds an ETA task unacknowledged in the worker until it is due; RabbitMQ (3.8.15+) closes the channel of
 * a consumer that holds a delivery longer than `consumer_timeout` (30 min by default), and every other delivery
 * on that channel comes back. Instead, a Celeriac worker hands a far-future ETA message back to RabbitMQ: it
 * publishes the same message (same task id, body and headers) into a chain of delay queues that returns it to
 * its original queue when it is due, then acknowledges the delivery it held.
 *
 * The chain is binary, as NServiceBus does it: level k (0..22) is a topic exchange and a queue
 * `celeriac.delay.<k>` whose messages all live 2^k seconds (queue-level `x-message-ttl`, so the head is always
 * the next to expire and no message waits behind a longer one), then are dead-lettered to level k-1. The
 * routing key spells the delay in binary, one word per level (most significant first), followed by the
 * destination queue: `0.0.….1.1.1.1.0.0.celery` for 60 s. Each level exchange sends a message whose bit is 1
 * into its queue and one whose bit is 0 straight on to the next exchange (an exchange-to-exchange binding), so a
 * message waits only in the levels its delay needs. Level 0 dead-letters to `celeriac.delay.deliver`, where
 * each destination queue is bound by its own name after 23 single-word wildcards.
 *
 * The delay is whole seconds, rounded down, so the message is back up to a second early and the worker holds
 * it for the rest. Delays beyond 2^23 s (97 days) make the trip again on arrival. A Python worker consuming the
 * same queue sees the task only when it is due, with RabbitMQ's `x-death` records added to its headers.
 */
import { ImproperlyConfigured } from '../../errors.js';
import type { JsonValue } from '../../types.js';
import type { Channel } from '../../transport/amqp/amqplib.js';

export const DELAY_LEVELS = 23;
const PREFIX = 'celeriac.delay';
export const DELIVER_EXCHANGE = `${PREFIX}.deliver`;
const MAX_DELAY_SECONDS = 2 ** DELAY_LEVELS - 1;

export function levelName(level: number): string {
  return `${PREFIX}.${level}`;
}

function levelPattern(level: number, bit: '0' | '1'): string {
  return `${'*.'.repeat(DELAY_LEVELS - 1 - level)}${bit}.#`;
}

/** The binding key of a destination queue on the deliver exchange. */
export function deliverPattern(queue: string): string {
  return `${'*.'.repeat(DELAY_LEVELS)}${queue}`;
}

export interface DelayRoute {
  readonly exchange: string;
  readonly routingKey: string;
  readonly seconds: number;
}

/** Where to publish a message so that it reaches `queue` after `delayMs` (rounded down to whole seconds). */
export function delayRoute(queue: string, delayMs: number): DelayRoute {
  if (queue.split('.').some((word) => word === '*' || word === '#')) {
    throw new ImproperlyConfigured(
      `queue "${queue}" has a "*" or "#" word, which the delay exchanges would read as a wildcard`,
    );
  }
  if (Buffer.byteLength(queue) > 255 - 2 * DELAY_LEVELS) {
    throw new ImproperlyConfigured(`queue name "${queue}" is too long to route through the delay exchanges`);
  }
  const seconds = Math.max(1, Math.min(MAX_DELAY_SECONDS, Math.floor(delayMs / 1000)));
  const bits = seconds.toString(2).padStart(DELAY_LEVELS, '0');
  const top = DELAY_LEVELS - 1 - bits.indexOf('1');
  return { exchange: levelName(top), routingKey: `${bits.split('').join('.')}.${queue}`, seconds };
}

/** Declares the 23 levels and the deliver exchange (idempotent; they are durable and shared by every queue). */
export async function declareDelayTopology(channel: Channel): Promise<void> {
  const durable = { durable: true, autoDelete: false };
  await channel.assertExchange(DELIVER_EXCHANGE, 'topic', durable);
  for (let level = 0; level < DELAY_LEVELS; level++) {
    await channel.assertExchange(levelName(level), 'topic', durable);
  }
  for (let level = 0; level < DELAY_LEVELS; level++) {
    const next = level === 0 ? DELIVER_EXCHANGE : levelName(level - 1);
    await channel.assertQueue(levelName(level), {
      ...durable,
      exclusive: false,
      arguments: {
        'x-message-ttl': { '!': 'long', value: 2 ** level * 1000 },
        'x-dead-letter-exchange': next,
      },
    });
    await channel.bindQueue(levelName(level), levelName(level), levelPattern(level, '1'));
    await channel.bindExchange(next, levelName(level), levelPattern(level, '0'));
  }
}

/** Binds a destination queue to the deliver exchange, so delayed messages find their way back to it. */
export async function bindDelayedDelivery(channel: Channel, queue: string): Promise<void> {
  await channel.bindQueue(queue, DELIVER_EXCHANGE, deliverPattern(queue));
}

/**
 * The headers to send a message on with: RabbitMQ's dead-letter records removed. They are RabbitMQ's bookkeeping,
 * not the task's, and RabbitMQ drops a message as a dead-letter cycle when its `x-death` already names a queue it
 * is about to expire from, which a second trip through the levels would otherwise hit.
 */
export function withoutDeathHeaders(headers: Record<string, JsonValue>): Record<string, JsonValue> {
  if (!('x-death' in headers) && !('x-first-death-queue' in headers)) return headers;
  const out: Record<string, JsonValue> = {};
  for (const key in headers) {
    if (key !== 'x-death' && !key.startsWith('x-first-death-') && !key.startsWith('x-last-death-')) {
      out[key] = headers[key]!;
    }
  }
  return out;
}
