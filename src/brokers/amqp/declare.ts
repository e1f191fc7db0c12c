/**
 * Declarations exactly as kombu makes them for Celery 5.2 (reference §2.6, `kombu/entity.py`), so that Python and
 * Celeriac workers can declare the same queues in either order without `PRECONDITION_FAILED - inequivalent arg`:
 * the exchange (direct, durable, not auto-delete, no arguments, unless declared otherwise with
 * `declareExchange`: Celery's pidbox exchanges are not durable) unless it is the default exchange `''`, the queue
 * (durable, not exclusive, not auto-delete, arguments only when set: `x-max-priority` from
 * `task_queue_max_priority`, `celery/app/amqp.py:131`; `x-message-ttl` and `x-expires` in integer milliseconds as
 * kombu's `message_ttl` and `expires`), then the binding.
 */
import { ImproperlyConfigured } from '../../errors.js';
import type { JsonValue } from '../../types.js';
import type { ExchangeSpec, QueueSpec } from '../broker.js';
import type { Channel } from '../../transport/amqp/amqplib.js';
import { toFieldTable } from '../../transport/amqp/field-table.js';

/** Exchanges on one connection: those declared there, and the flags given to `declareExchange`. */
export interface Exchanges {
  readonly declared: Set<string>;
  readonly specs: ReadonlyMap<string, ExchangeSpec>;
}

/** The queue arguments kombu would send for this spec, or undefined for none. */
export function queueArguments(spec: QueueSpec): Record<string, JsonValue> | undefined {
  const args: Record<string, JsonValue> = { ...(spec.arguments as Record<string, JsonValue> | undefined) };
  if (spec.maxPriority !== undefined && spec.maxPriority !== null) args['x-max-priority'] = spec.maxPriority;
  if (spec.messageTtlMs !== undefined) args['x-message-ttl'] = milliseconds(spec, 'messageTtlMs');
  if (spec.expiresMs !== undefined) args['x-expires'] = milliseconds(spec, 'expiresMs');
  return Object.keys(args).length > 0 ? args : undefined;
}

function milliseconds(spec: QueueSpec, field: 'messageTtlMs' | 'expiresMs'): number {
  const value = spec[field]!;
  if (!Number.isFinite(value) || value <= 0) {
    throw new ImproperlyConfigured(
      `Queue "${spec.name}": ${field} must be a positive number of milliseconds, got ${String(value)}`,
    );
  }
  return Math.round(value);
}

/** Declares an exchange as given (kombu's `Exchange.declare`). */
export async function declareExchange(channel: Channel, spec: ExchangeSpec): Promise<void> {
  try {
    await channel.assertExchange(spec.name, spec.type, {
      durable: spec.durable ?? true,
      autoDelete: spec.autoDelete ?? false,
    });
  } catch (error) {
    throw declarationError(spec.name, error);
  }
}

/** Declares one queue with its exchange and binding. */
export async function declareQueue(channel: Channel, spec: QueueSpec, exchanges: Exchanges): Promise<void> {
  const exchange = spec.exchange ?? spec.name;
  try {
    if (exchange !== '' && !exchanges.declared.has(exchange)) {
      // kombu's Exchange is durable by default whatever the queue is, so a transient queue keeps a durable one.
      const known = exchanges.specs.get(exchange);
      await channel.assertExchange(exchange, known?.type ?? spec.exchangeType ?? 'direct', {
        durable: known?.durable ?? true,
        autoDelete: known?.autoDelete ?? false,
      });
      exchanges.declared.add(exchange);
    }
    const args = queueArguments(spec);
    await channel.assertQueue(spec.name, {
      durable: spec.durable ?? true,
      exclusive: false,
      autoDelete: spec.autoDelete ?? false,
      ...(args ? { arguments: toFieldTable(args) } : {}),
    });
    if (exchange !== '') await channel.bindQueue(spec.name, exchange, spec.routingKey ?? spec.name);
  } catch (error) {
    throw declarationError(spec.name, error);
  }
}

/** PRECONDITION_FAILED names the queue and the setting that differs, and says how to fix it. */
function declarationError(name: string, error: unknown): Error {
  if (error instanceof ImproperlyConfigured) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/PRECONDITION_FAILED/.test(message)) {
    return new ImproperlyConfigured(
      `RabbitMQ already has queue or exchange for "${name}" declared with other settings: ${message}. ` +
        'Declare it the same way everywhere (durable, exchange type, x-max-priority from taskQueueMaxPriority or ' +
        'QueueSpec.maxPriority, messageTtlMs, expiresMs, QueueSpec.arguments), or delete it (rabbitmqctl delete_queue) so it is re-created',
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(message);
}
