/**
 * Exchange routing for brokers that emulate AMQP exchanges (memory, sqlite, redis), with kombu's semantics
 * (`kombu/transport/virtual/exchange.py`): direct = exact key, topic = `*`/`#` wildcards, fanout = every binding.
 */
import type { ExchangeType } from './broker.js';

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
