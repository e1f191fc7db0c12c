/**
 * `celeriac migrate SOURCE DEST`: moves the waiting task messages of queues from one broker to another, as
 * Celery's `celery migrate`: each message is published unchanged (headers, properties, body) with its exchange
 * and routing key on DEST, then acknowledged on SOURCE. Stops once no message came for `--timeout` seconds.
 */
import type { Command } from 'commander';
import { Celery, type Delivery } from '../../index.js';
import { CliError } from '../main.js';

interface MigrateFlags {
  queues?: string;
  limit?: string;
  timeout: string;
}

async function migrate(
  source: Celery,
  dest: Celery,
  queues: string[],
  limit: number,
  idleMs: number,
): Promise<number> {
  const from = await source.getBroker({ consumer: true });
  const to = await dest.getBroker();
  const specs = queues.map((name) => source.router.queue(name));
  await to.declare(specs);
  let moved = 0;
  let chain = Promise.resolve();
  let idle: NodeJS.Timeout | undefined;
  let finish: (() => void) | undefined;
  let failed: ((error: unknown) => void) | undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    failed = reject;
  });
  const arm = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => finish?.(), idleMs);
  };
  const onDelivery = (delivery: Delivery): void => {
    chain = chain
      .then(async () => {
        if (moved >= limit) return from.reject(delivery, { requeue: true });
        await to.publish(delivery.message, { exchange: delivery.exchange, routingKey: delivery.routingKey });
        await from.ack([delivery]);
        moved += 1;
        const { task, id } = delivery.message.headers;
        const name = typeof task === 'string' ? task : '?';
        process.stdout.write(`Migrating task ${moved}: ${name}[${typeof id === 'string' ? id : '?'}]\n`);
        if (moved >= limit) finish?.();
        else arm();
      })
      .catch((error: unknown) => failed?.(error));
  };
  arm();
  const consumer = await from.consume(specs, onDelivery, { prefetch: 1 });
  try {
    await done;
  } finally {
    clearTimeout(idle);
    await consumer.cancel();
    await chain;
  }
  return moved;
}

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('move the waiting task messages of queues from one broker to another, as Celery')
    .argument('<source>', 'broker URL to take the messages from')
    .argument('<destination>', 'broker URL to put them on')
    .option('-Q, --queues <names>', 'comma-separated queues (default: celery)')
    .option('-n, --limit <n>', 'move at most this many messages')
    .option('-t, --timeout <seconds>', 'stop once no message came for this long', '1.0')
    .action(async (sourceUrl: string, destUrl: string, flags: MigrateFlags) => {
      const timeout = Number(flags.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0)
        throw new CliError(`--timeout must be a positive number of seconds, got "${flags.timeout}"`, 2);
      const limit = flags.limit === undefined ? Infinity : Number(flags.limit);
      if (!(limit > 0) || !Number.isInteger(limit === Infinity ? 1 : limit))
        throw new CliError(`--limit must be a positive integer, got "${flags.limit}"`, 2);
      const queues = (flags.queues ?? 'celery').split(',').filter((q) => q !== '');
      // The URLs given here win over a CELERIAC_BROKER_URL in the environment (which would override both).
      delete process.env.CELERIAC_BROKER_URL;
      const source = new Celery('migrate-source', { broker: sourceUrl });
      const dest = new Celery('migrate-destination', { broker: destUrl });
      try {
        const moved = await migrate(source, dest, queues, limit, timeout * 1000);
        process.stdout.write(`Migrated ${moved} ${moved === 1 ? 'message' : 'messages'}.\n`);
      } finally {
        await source.close();
        await dest.close();
      }
    });
}
