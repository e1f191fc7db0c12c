/**
 * `closeAmqp` against the real driver and RabbitMQ: amqplib's `close()` of a channel whose connection dies before
 * the server's CloseOk never settles; `closeAmqp` resolves as the channel closes. (Seen as a worker that stopped
 * running redelivered tasks after `rabbitmqctl stop_app`: its mingle waited on such a close.)
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { amqplib, closeAmqp, type ChannelModel } from './amqplib.js';

const URL = 'amqp://guest:guest@127.0.0.1:5672';
const models: ChannelModel[] = [];

async function connect(): Promise<{ model: ChannelModel; socket: Socket }> {
  const model = await amqplib.connect(URL);
  model.on('error', () => undefined);
  models.push(model);
  return { model, socket: (model.connection as unknown as { stream: Socket }).stream };
}

afterEach(async () => {
  await Promise.all(models.splice(0).map((model) => closeAmqp(model)));
});

describe('closeAmqp', () => {
  it('resolves when the connection dies before the CloseOk, where amqplib close() never settles', async () => {
    const { model, socket } = await connect();
    const theirs = await model.createChannel();
    const ours = await model.createChannel();
    let settled = false;
    theirs.close().then(
      () => (settled = true),
      () => (settled = true),
    );
    const closing = closeAmqp(ours);
    // The connection dies (reset) with both ChannelClose frames unanswered.
    socket.destroy(new Error('connection reset by the test'));
    await closing;
    // Both channels were closed in the same turn (amqplib closes every channel of a dead connection together);
    // amqplib's own promise is still pending after it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
  });

  it('resolves for a channel closed normally and for one already closed', async () => {
    const { model } = await connect();
    const channel = await model.createChannel();
    await closeAmqp(channel);
    await closeAmqp(channel);
    await closeAmqp(model);
    await closeAmqp(model);
  });
});
