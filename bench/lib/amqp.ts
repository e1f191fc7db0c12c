/** RabbitMQ helpers for the benchmark: the server's version, ready-message counts, and deleting a run's queue. */
import amqp from 'amqplib';

export async function rabbitVersion(url: string): Promise<string> {
  const connection = await amqp.connect(url);
  try {
    const props = connection.connection.serverProperties as Record<string, unknown>;
    return typeof props.version === 'string' ? props.version : 'unknown';
  } finally {
    await connection.close();
  }
}

/** Messages ready in `queue` (not counting those delivered and not yet acknowledged). */
export class QueueProbe {
  private constructor(
    private readonly connection: amqp.ChannelModel,
    private readonly channel: amqp.Channel,
  ) {}

  static async open(url: string): Promise<QueueProbe> {
    const connection = await amqp.connect(url);
    const channel = await connection.createChannel();
    return new QueueProbe(connection, channel);
  }

  async ready(queue: string): Promise<number> {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** Deletes the queue and its same-named direct exchange (what Celery declares for a queue). */
export async function deleteAmqpQueue(url: string, queue: string): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(queue);
  } finally {
    await connection.close();
  }
}

/**
 * Holds every message of a queue: consumes them without acknowledging, so that they stay in the queue but no other
 * consumer gets them. `release()` closes the channel and the server requeues them all at once (a warm worker
 * then receives a full queue in one step: the benchmark's start line).
 */
export async function holdQueue(
  url: string,
  queue: string,
  n: number,
): Promise<{ release(): Promise<void> }> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  let held = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  await channel.consume(
    queue,
    () => {
      held += 1;
      if (held === n) done();
    },
    { noAck: false },
  );
  await all;
  return {
    async release() {
      await channel.close();
      await connection.close();
    },
  };
}
