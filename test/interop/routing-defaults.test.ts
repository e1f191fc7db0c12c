/**
 * `taskDefaultExchange`, `taskDefaultExchangeType` and `taskDefaultRoutingKey` as Celery 5.2.6 reads them: the
 * queues Celeriac declares and the exchange and routing key it publishes with equal what Python Celery's
 * `app.amqp` produces for the same settings (python/routes_probe.py), and a Python Celery worker with the same
 * settings runs what Celeriac sends, on Redis and on RabbitMQ.
 */
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueSpec } from '../../src/brokers/broker.js';
import { Celery, type CeleryOptions } from '../../src/index.js';
import { compileConfig } from '../../src/app/config.js';
import { Router } from '../../src/app/routing.js';
import { silentLogger } from '../../src/lifecycle/logger.js';
import { uuid } from '../../src/protocol/ids.js';
import { PYTHON, PYTHON_DIR } from '../support/python.js';
import { watchProcess, type RunningProcess } from '../support/processes.js';
import { createVhost, type Vhost } from '../support/rabbitmq.js';
import { deletePrefix, REDIS_URL, testClient, testPrefix } from '../support/redis.js';

interface Call {
  queue?: string;
  exchange?: string;
  routingKey?: string;
}

interface Sent {
  exchange: string;
  routingKey: string;
  declared: { name: string; exchange: string; exchangeType: string; routingKey: string }[];
}

const TOPIC = {
  taskDefaultExchange: 'tasks',
  taskDefaultExchangeType: 'topic',
  taskDefaultRoutingKey: 'task.default',
} as const;

const CASES: [string, CeleryOptions, Call[]][] = [
  ['the defaults', {}, [{}, { queue: 'other' }]],
  ['a topic default exchange', TOPIC, [{}, { queue: 'other' }, { routingKey: 'task.x' }]],
  ['a direct default exchange with its own name', { taskDefaultExchange: 'tasks' }, [{}]],
  ['a fanout default exchange', { taskDefaultExchange: 'bcast', taskDefaultExchangeType: 'fanout' }, [{}]],
  ['another default queue', { taskDefaultQueue: 'jobs' }, [{}, { queue: 'celery' }]],
  [
    'declared queues without an exchange',
    {
      taskDefaultQueue: 'feeds',
      taskDefaultExchangeType: 'topic',
      taskDefaultRoutingKey: 'x.y',
      taskQueues: [{ name: 'feeds' }, { name: 'media', exchange: 'm', routingKey: '' }],
    },
    [{}, { queue: 'media' }],
  ],
  [
    'declared queues with their own exchange',
    {
      ...TOPIC,
      taskQueues: [
        { name: 'images', exchange: 'media', exchangeType: 'direct', routingKey: 'image' },
        { name: 'ev', exchange: 'ev', exchangeType: 'topic', routingKey: 'ev.#' },
      ],
    },
    [
      { exchange: 'media', routingKey: 'image' },
      { queue: 'images' },
      { queue: 'ev', routingKey: 'ev.created' },
    ],
  ],
];

/** Celery's names for the settings of a case; `task_queues` in Celery's dict form. */
function pythonSettings(options: CeleryOptions): Record<string, unknown> {
  const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    settings[snake(key)] =
      key === 'taskQueues'
        ? Object.fromEntries(
            (value as QueueSpec[]).map(({ name, exchange, exchangeType, routingKey }) => [
              name,
              { exchange, exchange_type: exchangeType, routing_key: routingKey },
            ]),
          )
        : value;
  }
  return settings;
}

function celeriacSends(options: CeleryOptions, calls: readonly Call[]): Sent[] {
  const router = new Router(compileConfig({ broker: 'memory://', ...options }, {}));
  return calls.map((call) => {
    const routed = router.route('probe.task', [], {}, call);
    const declared = routed.queue
      ? [
          {
            name: routed.queue.name,
            exchange: routed.queue.exchange ?? routed.queue.name,
            exchangeType: routed.queue.exchangeType ?? 'direct',
            routingKey: routed.queue.routingKey ?? routed.queue.name,
          },
        ]
      : [];
    return { ...routed.route, declared };
  });
}

describe("declarations and routes equal Python Celery's app.amqp", () => {
  const input = CASES.map(([, options, calls]) => ({
    settings: pythonSettings(options),
    calls: calls.map((c) => ({ queue: c.queue, exchange: c.exchange, routing_key: c.routingKey })),
  }));
  const python = JSON.parse(
    execFileSync(PYTHON, ['routes_probe.py'], {
      cwd: PYTHON_DIR,
      input: JSON.stringify(input),
      encoding: 'utf8',
    }),
  ) as Sent[][];

  it.each(CASES.map((c, i) => [c[0], c[1], c[2], i] as const))('with %s', (_label, options, calls, i) => {
    // For a call that names an exchange and no queue, Celery also declares the default queue although the message
    // does not go there (routes.py fills in the default queue); Celeriac declares nothing for it.
    const expected = python[i]!.map((sent, j) =>
      calls[j]!.exchange !== undefined && calls[j]!.queue === undefined ? { ...sent, declared: [] } : sent,
    );
    expect(celeriacSends(options, calls)).toEqual(expected);
  });
});

/** `celery worker` on python/routing_app.py, resolved once it is ready. */
async function startRoutingWorker(env: NodeJS.ProcessEnv, queue: string): Promise<RunningProcess> {
  const child = spawn(
    PYTHON,
    [
      ...['-m', 'celery', '-A', 'routing_app', 'worker', '-P', 'solo', '-Q', queue, '-l', 'info'],
      ...[
        '-n',
        `routing-${uuid().slice(0, 6)}@%h`,
        '--without-gossip',
        '--without-mingle',
        '--without-heartbeat',
      ],
    ],
    {
      cwd: PYTHON_DIR,
      env: { ...process.env, ...env, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const worker = watchProcess(child, 30_000);
  await worker.waitFor(/ ready\.$/);
  return worker;
}

async function stopWorker(worker: RunningProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.kill('SIGTERM');
  await worker.exited();
}

/** One broker: a Python worker and a Celeriac producer with the same topic default exchange. */
function liveSuite(title: string, broker: () => { url: string; prefix?: string }, backend: string): void {
  describe(`a Python worker runs what Celeriac sends through a topic default exchange (${title})`, () => {
    const id = uuid().slice(0, 8);
    const settings = {
      task_default_queue: `routing-${id}`,
      task_default_exchange: `routing-ex-${id}`,
      task_default_exchange_type: 'topic',
      task_default_routing_key: 'task.default',
    };
    let worker: RunningProcess | undefined;
    let app: Celery;

    beforeAll(async () => {
      const { url, prefix = '' } = broker();
      app = new Celery('routing-producer', { resultExpires: 600 }).configFromObject({
        ...settings,
        broker_url: url,
        result_backend: backend,
        ...(prefix ? { broker_transport_options: { global_keyprefix: prefix } } : {}),
      });
      app.logger = silentLogger();
      worker = await startRoutingWorker(
        {
          ROUTING_BROKER: url,
          ROUTING_BACKEND: backend,
          ROUTING_PREFIX: prefix,
          ROUTING_QUEUE: settings.task_default_queue,
          ROUTING_EXCHANGE: settings.task_default_exchange,
          ROUTING_EXCHANGE_TYPE: settings.task_default_exchange_type,
          ROUTING_KEY: settings.task_default_routing_key,
        },
        settings.task_default_queue,
      );
    });

    afterAll(async () => {
      await stopWorker(worker);
      await app?.close();
    });

    it('publishes to the default exchange with the default routing key', async () => {
      const result = await app.sendTask('routing.where');
      expect(await result.get({ timeout: 30 })).toEqual({
        exchange: settings.task_default_exchange,
        routing_key: 'task.default',
      });
    });
  });
}

const prefix = testPrefix('routing-defaults');
const redis = testClient();
afterAll(async () => {
  await deletePrefix(redis, prefix);
  redis.disconnect();
});
liveSuite('Redis', () => ({ url: REDIS_URL, prefix }), REDIS_URL);

let vhost: Vhost | undefined;
beforeAll(async () => {
  vhost = await createVhost('routing-defaults');
});
afterAll(async () => {
  await vhost?.remove();
});
liveSuite('RabbitMQ', () => ({ url: vhost!.url }), 'redis://127.0.0.1:6379/11');
