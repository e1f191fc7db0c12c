/**
 * Declarations exactly as kombu makes them for Celery 5.2 (reference §2.6, `kombu/entity.py`), so that Python and
 * Celeriac workers can declare the same queues in either order without `PRECONDITION_FAILED - inequivalent arg`:
 * the exchange (direct, durable, not auto-delete, no arguments) unless it is the default exchange `''`, the queue
 * (durable, not exclusive, not auto-delete, arguments only when set: `x-max-priority` from
 * `task_queue_max_priority`, `celery/app/amqp.py:131`), then the binding.
 */
import { ImproperlyConfigured } from '../../errors.js';
import type { JsonValue } from '../../types.js';
import type { QueueSpec } from '../broker.js';
import type { Channel } from '../../transport/amqp/amqplib.js';
import { toFieldTable } from '../../transport/amqp/field-table.js';

/** The queue arguments kombu would send for this spec, or undefined for none. */
export function queueArguments(spec: QueueSpec): Record<string, JsonValue> | undefined {
  const args: Record<string, JsonValue> = { ...(spec.arguments as Record<string, JsonValue> | undefined) };
  if (spec.maxPriority !== undefined && spec.maxPriority !== null) args['x-max-priority'] = spec.maxPriority;
  return Object.keys(args).length > 0 ? args : undefined;
}

/** Declares one queue with its exchange and binding. `declared` caches exchanges already declared. */
export async function declareQueue(channel: Channel, spec: QueueSpec, declared: Set<string>): Promise<void> {
  const exchange = spec.exchange ?? spec.name;
  try {
    if (exchange !== '' && !declared.has(exchange)) {
      // kombu's Exchange is durable by default whatever the queue is, so a transient queue keeps a durable one.
      await channel.assertExchange(exchange, spec.exchangeType ?? 'direct', {
        durable: true,
        autoDelete: false,
      });
      declared.add(exchange);
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
    throw declarationError(spec, error);
  }
}

/** PRECONDITION_FAILED names the queue and the setting that differs, and says how to fix it. */
function declarationError(spec: QueueSpec, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (/PRECONDITION_FAILED/.test(message)) {
    return new ImproperlyConfigured(
      `RabbitMQ already has queue or exchange for "${spec.name}" declared with other settings: ${message}. ` +
        'Declare it the same way everywhere (durable, exchange type, x-max-priority from taskQueueMaxPriority or ' +
        'QueueSpec.maxPriority, QueueSpec.arguments), or delete it (rabbitmqctl delete_queue) so it is re-created',
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(message);
}
