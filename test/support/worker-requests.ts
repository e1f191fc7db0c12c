/**
 * For the worker's unit tests: real requests, from real messages published to and delivered by a memory broker
 * of the test's own namespace, with the State and a logger whose lines are kept.
 */
import { Celery } from '../../src/app/celery.js';
import type { CallOptions } from '../../src/app/task.js';
import type { Broker, Delivery } from '../../src/brokers/broker.js';
import { createLogger, type Logger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { decodeTaskMessage } from '../../src/protocol/message.js';
import { Request } from '../../src/worker/request.js';
import { State } from '../../src/worker/state.js';

export const QUEUE = 'fixture-q';

export interface Fixture {
  readonly app: Celery;
  readonly broker: Broker;
  readonly state: State;
  readonly logger: Logger;
  /** Log lines at debug and above, as `{ level, msg }`. */
  readonly lines: { level: number; msg: string }[];
  /** Publishes a task and returns the request the worker would build from its delivery. */
  request(name?: string, options?: CallOptions): Promise<Request>;
  /** Deliveries handed out again (requeued, given back) that no `request()` took yet. */
  redelivered(): readonly Delivery[];
  close(): Promise<void>;
}

export async function fixture(options: { prefetch?: number } = {}): Promise<Fixture> {
  const app = new Celery('fixture', { broker: `memory://${uuid()}` });
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger({
    level: 'debug',
    format: 'json',
    destination: { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
  });
  app.logger = logger;
  app.task('tasks.add', (x: number, y: number) => x + y);
  app.task('tasks.mul', (x: number, y: number) => x * y, { rateLimit: '10/s', timeLimit: 30 });
  app.task('celery.fixture_builtin', () => null);
  const broker = await app.getBroker();
  await broker.declare([{ name: QUEUE }]);
  const delivered: Delivery[] = [];
  const waiting: ((d: Delivery) => void)[] = [];
  const onDelivery = (d: Delivery): void => {
    const waiter = waiting.shift();
    if (waiter) waiter(d);
    else delivered.push(d);
  };
  await broker.consume([{ name: QUEUE }], onDelivery, { prefetch: 0 });
  const state = new State({ app, hostname: 'w1@host', prefetch: options.prefetch ?? 8, poolSize: () => 4 });
  const next = (): Promise<Delivery> =>
    delivered.length > 0
      ? Promise.resolve(delivered.shift()!)
      : new Promise((resolve) => waiting.push(resolve));
  return {
    app,
    broker,
    state,
    logger,
    lines,
    async request(name = 'tasks.add', call: CallOptions = {}) {
      const delivery = next();
      await app.sendTask(name, [2, 3], { z: 1 }, { queue: QUEUE, ...call });
      const d = await delivery;
      const message = decodeTaskMessage(d.message, app.conf.accept);
      return new Request(message, d, state.task(message.task)!, state.hostname);
    },
    redelivered: () => delivered,
    close: () => app.close(),
  };
}
