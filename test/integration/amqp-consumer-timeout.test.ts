/**
 * Acceptance: with RabbitMQ's `consumer_timeout` lowered to 10 seconds, a task with a 60-second countdown runs
 * once, at its time, and the worker's channel is never closed by the broker (Celery's worker dies here: battery
 * M17). A plain consumer holding a delivery on the same node shows the timeout is in force. Runs against a
 * RabbitMQ node of its own; the settings are restored afterwards all the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqplib } from '../../src/transport/amqp/amqplib.js';
import { Celery } from '../../src/index.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { parseIso } from '../../src/protocol/time.js';
import type { RunningProcess } from '../support/processes.js';
import { startPrivateNode, type PrivateNode } from '../support/rabbitmq.js';
import { startCeleriacWorker, stopProcess } from '../interop/amqp-support.js';

let node: PrivateNode;
let worker: RunningProcess | undefined;
let app: Celery | undefined;

const set = (key: string, value: number): Promise<string> =>
  node.ctl(['eval', `application:set_env(rabbit, ${key}, ${value}).`]);

beforeAll(async () => {
  node = await startPrivateNode('consumer-timeout');
  await set('consumer_timeout', 10_000);
  // Channels check their deliveries' age on every tick (60 s by default): tick each second, so the control
  // consumer is caught within the test.
  await set('channel_tick_interval', 1_000);
});
afterAll(async () => {
  await app?.close();
  if (worker) await stopProcess(worker);
  await set('consumer_timeout', 1_800_000).catch(() => undefined);
  await set('channel_tick_interval', 60_000).catch(() => undefined);
  await node?.stop();
});

/** Holds one delivery without acknowledging it; resolves with the error RabbitMQ closes the channel with. */
async function controlConsumer(): Promise<string> {
  const connection = await amqplib.connect(node.url);
  try {
    const channel = await connection.createChannel();
    const closed = new Promise<string>((resolve) => channel.on('error', (e: Error) => resolve(e.message)));
    await channel.assertQueue('control', { durable: false });
    channel.sendToQueue('control', Buffer.from('held'));
    await channel.consume('control', () => undefined, { noAck: false });
    return await closed;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

describe('a 60-second countdown with consumer_timeout at 10 seconds', () => {
  it('runs once at its time, and the broker never closes the worker channel', async () => {
    const control = controlConsumer();
    const env = { broker: node.url, backend: 'rpc' as const, queue: 'long-eta' };
    worker = await startCeleriacWorker(env);
    app = new Celery('timeout-producer', { broker: node.url, backend: 'rpc://', taskQueueMaxPriority: 10 });
    app.logger = silentLogger();
    const result = await app.sendTask<{ ran: number; eta: string }>(
      'interop.when',
      [],
      {},
      {
        queue: env.queue,
        countdown: 60,
      },
    );
    await worker.waitFor(new RegExp(`interop\\.when\\[${result.id}\\] deferred until`));
    expect(await control).toMatch(/PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out/);

    const when = await result.get({ timeout: 90 });
    expect(when.ran).toBeGreaterThanOrEqual(parseIso(when.eta)! / 1000);
    await worker.waitFor(new RegExp(`interop\\.when\\[${result.id}\\] succeeded`));
    const output = worker.output();
    expect(output.match(new RegExp(`interop\\.when\\[${result.id}\\] succeeded`, 'g'))).toHaveLength(1);
    expect(output).not.toMatch(/PRECONDITION_FAILED|closed by RabbitMQ|lost/);
  }, 120_000);
});
