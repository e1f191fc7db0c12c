/**
 * Another process on the same broker namespace, for the conformance suite's `shared` test:
 * `node --import tsx peer-process.ts '<json>'` with `{ url, transportOptions, queue, publish?: string[],
 * consume?: number }` publishes test messages with those labels, or consumes (and acknowledges) that many and
 * prints their labels as one JSON line.
 */
import { silentLogger } from '../../lifecycle/logger.js';
import { createBroker } from '../registry.js';
import { collector, labelOf, testMessage } from './helpers.js';

interface PeerJob {
  readonly url: string;
  readonly transportOptions?: Record<string, unknown>;
  readonly queue: string;
  readonly publish?: readonly string[];
  readonly consume?: number;
}

async function run(job: PeerJob): Promise<void> {
  const broker = await createBroker(job.url, {
    logger: silentLogger(),
    transportOptions: job.transportOptions ?? {},
    connectionRetry: false,
    connectionMaxRetries: 0,
    connectionTimeoutMs: 10_000,
  });
  await broker.connect();
  const queue = { name: job.queue };
  await broker.declare([queue]);
  for (const label of job.publish ?? []) {
    await broker.publish(testMessage(label), { exchange: '', routingKey: job.queue });
  }
  if (job.consume) {
    const c = collector();
    await broker.consume([queue], c.handler, { prefetch: 0 });
    const got = await c.waitFor(job.consume, 20_000);
    await broker.ack(got);
    process.stdout.write(`${JSON.stringify(got.map(labelOf))}\n`);
  }
  await broker.close();
}

run(JSON.parse(process.argv[2] ?? '{}') as PeerJob).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
    process.exit(1);
  },
);
