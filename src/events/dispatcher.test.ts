import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Broker, Route } from '../brokers/broker.js';
import { ConnectionError } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import { LamportClock } from '../protocol/lamport-clock.js';
import type { WireMessage } from '../protocol/message.js';
import { BrokerEventDispatcher, eventGroup } from './dispatcher.js';

interface Sent {
  routingKey: string;
  body: unknown;
}

/** A broker that records what is published, and refuses it while `down`. */
function stubBroker() {
  const sent: Sent[] = [];
  const state = { down: false };
  const broker = {
    url: 'stub://',
    capabilities: { broadcast: 'queue' },
    declareExchange: async () => {
      if (state.down) throw new ConnectionError('stub broker is down');
    },
    publish: async (message: WireMessage, route: Route) => {
      if (state.down) throw new ConnectionError('stub broker is down');
      sent.push({ routingKey: route.routingKey, body: JSON.parse(message.body.toString('utf8')) });
    },
  } as unknown as Broker;
  return { broker, sent, state };
}

function logger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const log = {
    warnings,
    warn: (a: unknown, b?: string) => void warnings.push(typeof a === 'string' ? a : (b ?? '')),
  };
  return log as unknown as Logger & { warnings: string[] };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('BrokerEventDispatcher', () => {
  it('groups types as Celery does', () => {
    expect(eventGroup('task-succeeded')).toBe('task');
    expect(eventGroup('worker-heartbeat')).toBe('worker');
    expect(eventGroup('custom')).toBe('custom');
  });

  it('batches buffered groups into one <group>.multi list per turn of the event loop, others at once', async () => {
    const { broker, sent } = stubBroker();
    const clock = new LamportClock();
    const d = new BrokerEventDispatcher({
      broker,
      hostname: 'w@h',
      logger: logger(),
      clock,
      bufferGroups: ['task'],
    });
    await d.send('worker-online', { freq: 2 });
    void d.send('task-received', { uuid: 'a' });
    void d.send('task-started', { uuid: 'a' });
    void d.send('task-progress', { uuid: 'a' }, { immediate: true });
    expect(sent.map((s) => s.routingKey)).toEqual(['worker.online']);
    await new Promise((resolve) => setImmediate(resolve));
    await d.flush();
    expect(sent.map((s) => s.routingKey)).toEqual(['worker.online', 'task.progress', 'task.multi']);
    const batch = sent[2]!.body as { type: string; clock: number; hostname: string }[];
    expect(batch.map((e) => [e.type, e.clock, e.hostname])).toEqual([
      ['task-received', 2, 'w@h'],
      ['task-started', 3, 'w@h'],
    ]);
    // Nothing buffered: nothing sent (Celery would send an empty list).
    await d.flush();
    expect(sent).toHaveLength(3);
  });

  it('sends a batch as soon as it holds bufferLimit events', async () => {
    const { broker, sent } = stubBroker();
    const d = new BrokerEventDispatcher({
      broker,
      hostname: 'w@h',
      logger: logger(),
      clock: new LamportClock(),
      bufferGroups: ['task'],
      bufferLimit: 3,
    });
    const sends = [1, 2, 3, 4].map((i) => d.send('task-started', { uuid: String(i) }));
    await Promise.all(sends);
    expect(sent.map((s) => (s.body as unknown[]).length)).toEqual([3]);
    await d.flush();
    expect(sent.map((s) => (s.body as unknown[]).length)).toEqual([3, 1]);
  });

  it('keeps events while the broker is away and sends them in order once it is back; heartbeats are not kept', async () => {
    vi.useFakeTimers();
    const { broker, sent, state } = stubBroker();
    const log = logger();
    const d = new BrokerEventDispatcher({ broker, hostname: 'w@h', logger: log, clock: new LamportClock() });
    state.down = true;
    await d.send('task-succeeded', { uuid: 'a' });
    await d.send('worker-heartbeat', { freq: 2 });
    await d.send('task-failed', { uuid: 'b' });
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toMatch(/Could not send task-succeeded event: stub broker is down/);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sent).toEqual([]);
    state.down = false;
    // A new event queues behind the kept ones.
    await d.send('task-started', { uuid: 'c' });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sent.map((s) => s.routingKey)).toEqual(['task.succeeded', 'task.failed', 'task.started']);
    // Back to normal, and a second outage is logged again.
    await d.send('task-started', { uuid: 'd' });
    expect(sent).toHaveLength(4);
    state.down = true;
    await d.send('task-started', { uuid: 'e' });
    expect(log.warnings).toHaveLength(2);
    d.close();
    state.down = false;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(sent).toHaveLength(4);
  });
});
