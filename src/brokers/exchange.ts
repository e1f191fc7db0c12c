/**
 * Exchange routing for brokers that emulate AMQP exchanges (memory, sqlite, redis), with kombu's semantics
 * (`kombu/transport/virtual/exchange.py`): direct = exact key, topic = `*`/`#` wildcards, fanout = every binding.
 */
import { ImproperlyConfigured } from '../errors.js';
import type { ExchangeSpec, ExchangeType, QueueSpec, SubscriptionSpec } from './broker.js';

export interface Binding {
  readonly routingKey: string;
  readonly queue: string;
}

const compiled = new Map<string, RegExp>();

/** kombu's topic pattern: `*` is `.*?[^.]`, `#` is `.*?`, words joined by `\.`. */
export function topicPattern(bindingKey: string): RegExp {
  let regex = compiled.get(bindingKey);
  if (!regex) {
    const words = bindingKey.split('.').map((word) => {
      if (word === '*') return '.*?[^\\.]';
      if (word === '#') return '.*?';
      return word
        .replace(/[\\^$.|?+()[\]{}]/g, (c) => `\\${c}`)
        .replace(/\*/g, '.*?[^\\.]')
        .replace(/#/g, '.*?');
    });
    regex = new RegExp(`^${words.join('\\.')}$`, 'u');
    compiled.set(bindingKey, regex);
  }
  return regex;
}

/** The queues a message published to an exchange of `type` with `routingKey` reaches. */
export function routeToQueues(
  type: ExchangeType,
  bindings: readonly Binding[],
  routingKey: string,
): string[] {
  const queues = new Set<string>();
  for (const binding of bindings) {
    if (
      type === 'fanout' ||
      (type === 'direct' && binding.routingKey === routingKey) ||
      (type === 'topic' && topicPattern(binding.routingKey).test(routingKey))
    ) {
      queues.add(binding.queue);
    }
  }
  return [...queues];
}

/** The queue a subscription declares: bound to its exchange, non-durable, auto-deleting, as Celery's are. */
export function subscriptionQueue(spec: SubscriptionSpec): QueueSpec {
  return {
    name: spec.queue,
    exchange: spec.exchange.name,
    exchangeType: spec.exchange.type,
    routingKey: spec.routingKey,
    durable: false,
    autoDelete: true,
    ...(spec.messageTtlMs === undefined ? {} : { messageTtlMs: spec.messageTtlMs }),
    ...(spec.expiresMs === undefined ? {} : { expiresMs: spec.expiresMs }),
  };
}

/** An exchange declared again with another type: refused, as RabbitMQ and kombu refuse it. */
export function inequivalentExchange(spec: ExchangeSpec, existing: string): ImproperlyConfigured {
  return new ImproperlyConfigured(
    `Exchange "${spec.name}" is already declared as ${existing}, not ${spec.type}: declare it the same way ` +
      'everywhere, or use another exchange name',
  );
}
