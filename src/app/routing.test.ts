import { describe, expect, it } from 'vitest';
import { compileConfig } from './config.js';
import { Router } from './routing.js';

function router(options: Parameters<typeof compileConfig>[0]): Router {
  return new Router(compileConfig({ broker: 'memory://', ...options }, {}));
}

describe('routing', () => {
  it('sends to the default queue through the default exchange, as Celery does for direct routes', () => {
    const routed = router({}).route('tasks.add', [], {}, {});
    expect(routed.route).toEqual({ exchange: '', routingKey: 'celery' });
    expect(routed.queue?.name).toBe('celery');
  });

  it('uses taskRoutes by name, glob, function and regex, first match winning; call options win over routes', () => {
    const r = router({
      taskRoutes: [
        { 'tasks.add': 'math', 'feed.*': { queue: 'feeds' } },
        (name) => (name === 'tasks.fn' ? { queue: 'fn' } : undefined),
        [/^img\./, 'images'],
      ],
    });
    expect(r.route('tasks.add', [], {}, {}).route.routingKey).toBe('math');
    expect(r.route('feed.import', [], {}, {}).queue?.name).toBe('feeds');
    expect(r.route('tasks.fn', [], {}, {}).queue?.name).toBe('fn');
    expect(r.route('img.resize', [], {}, {}).queue?.name).toBe('images');
    expect(r.route('tasks.add', [], {}, { queue: 'override' }).queue?.name).toBe('override');
    expect(r.route('other', [], {}, {}).queue?.name).toBe('celery');
  });

  it('publishes to a named topic exchange with its routing key', () => {
    const r = router({
      taskQueues: [{ name: 'events', exchange: 'ev', exchangeType: 'topic', routingKey: 'ev.#' }],
    });
    const routed = r.route('x', [], {}, { queue: 'events', routingKey: 'ev.created' });
    expect(routed.route).toEqual({ exchange: 'ev', routingKey: 'ev.created' });
  });

  it('refuses a queue missing from taskQueues when missing queues are not created', () => {
    const r = router({ taskCreateMissingQueues: false, taskQueues: [{ name: 'celery' }] });
    expect(() => r.route('x', [], {}, { queue: 'nope' })).toThrow(/Queue "nope" missing from taskQueues/);
  });

  it('applies the default priority and the queue max priority', () => {
    const r = router({ taskDefaultPriority: 5, taskQueueMaxPriority: 10 });
    const routed = r.route('x', [], {}, {});
    expect(routed.priority).toBe(5);
    expect(routed.queue?.maxPriority).toBe(10);
  });

  it('binds the default queue to the default exchange and publishes a topic default there (celery/app/amqp.py)', () => {
    const r = router({
      taskDefaultExchange: 'tasks',
      taskDefaultExchangeType: 'topic',
      taskDefaultRoutingKey: 'task.default',
    });
    const routed = r.route('x', [], {}, {});
    expect(routed.route).toEqual({ exchange: 'tasks', routingKey: 'task.default' });
    expect(routed.queue).toEqual({
      name: 'celery',
      exchange: 'tasks',
      exchangeType: 'topic',
      routingKey: 'task.default',
    });
    expect(r.route('x', [], {}, { queue: 'other' }).route).toEqual({ exchange: '', routingKey: 'other' });
  });

  it('publishes direct defaults through the default exchange, whatever the exchange is called', () => {
    const routed = router({ taskDefaultExchange: 'tasks' }).route('x', [], {}, {});
    expect(routed.route).toEqual({ exchange: '', routingKey: 'celery' });
    expect(routed.queue?.exchange).toBe('tasks');
  });

  it('binds declared queues without an exchange to the default exchange, by their name', () => {
    const r = router({ taskDefaultExchange: 'tasks', taskQueues: [{ name: 'feeds' }] });
    expect(r.queue('feeds')).toEqual({
      name: 'feeds',
      exchange: 'tasks',
      exchangeType: 'direct',
      routingKey: 'feeds',
    });
  });

  it('refuses a declared queue with an exchange type but no exchange, which Celery would silently replace', () => {
    expect(() => router({ taskQueues: [{ name: 'ev', exchangeType: 'topic' }] })).toThrow(
      'taskQueues: queue "ev" has exchangeType "topic" but no exchange: name its exchange, or set taskDefaultExchangeType',
    );
  });
});
