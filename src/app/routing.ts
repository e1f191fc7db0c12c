/**
 * Task routing (`task_routes`, `task_queues`), as `celery/app/routes.py`: routers are consulted in order, the first
 * answer wins, explicit call options win over any route, and direct routes are published to the default exchange
 * with the queue name as routing key (`celery/app/amqp.py:490`).
 *
 * Queues are declared as `celery/app/amqp.py` (`Queues`, `AMQP.Queues`) builds them: the default queue (when
 * `taskQueues` is empty) is bound to `taskDefaultExchange` of `taskDefaultExchangeType` with
 * `taskDefaultRoutingKey`; a `taskQueues` entry without an exchange gets that exchange too; a queue created on demand
 * gets a direct exchange of its own name.
 */
import type { ExchangeType, QueueSpec, Route } from '../brokers/broker.js';
import { ImproperlyConfigured } from '../errors.js';

/** A queue name, or where to send the task. */
export type RouteTarget =
  | string
  | {
      queue?: string;
      exchange?: string;
      exchangeType?: ExchangeType;
      routingKey?: string;
      priority?: number;
    };

export type RouterFn = (
  name: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
) => RouteTarget | null | undefined;

/** A map of task names or globs (`tasks.*`) to targets, a router function, or a list of either (first match wins). */
export type TaskRoutes =
  | Readonly<Record<string, RouteTarget>>
  | RouterFn
  | ReadonlyArray<Readonly<Record<string, RouteTarget>> | RouterFn | readonly [RegExp, RouteTarget]>;

export interface RouteRequest {
  queue?: string | undefined;
  exchange?: string | undefined;
  exchangeType?: ExchangeType | undefined;
  routingKey?: string | undefined;
  priority?: number | null | undefined;
}

export interface ResolvedRoute {
  /** The queue to declare before publishing (absent for exchange-only routes). */
  queue: QueueSpec | undefined;
  route: Route;
  priority: number | null;
}

export interface RouterConfig {
  taskRoutes: TaskRoutes | null;
  taskQueues: readonly QueueSpec[];
  taskDefaultQueue: string;
  taskDefaultExchange: string;
  taskDefaultExchangeType: ExchangeType;
  taskDefaultRoutingKey: string;
  taskCreateMissingQueues: boolean;
  taskDefaultPriority: number | null;
  taskQueueMaxPriority: number | null;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

type CompiledRouter = (
  name: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
) => RouteTarget | undefined;

function compileMap(map: Readonly<Record<string, RouteTarget>>): CompiledRouter {
  const exact = new Map<string, RouteTarget>();
  const patterns: [RegExp, RouteTarget][] = [];
  for (const [key, target] of Object.entries(map)) {
    if (key.includes('*') || key.includes('?')) patterns.push([globToRegExp(key), target]);
    else exact.set(key, target);
  }
  return (name) => exact.get(name) ?? patterns.find(([re]) => re.test(name))?.[1];
}

export function compileRoutes(routes: TaskRoutes | null): CompiledRouter[] {
  if (routes === null) return [];
  const list = Array.isArray(routes) ? routes : [routes];
  return list.map((entry): CompiledRouter => {
    if (typeof entry === 'function')
      return (name, args, kwargs) => (entry as RouterFn)(name, args, kwargs) ?? undefined;
    if (Array.isArray(entry) && entry[0] instanceof RegExp) {
      const [re, target] = entry as unknown as readonly [RegExp, RouteTarget];
      return (name) => (re.test(name) ? target : undefined);
    }
    return compileMap(entry as Readonly<Record<string, RouteTarget>>);
  });
}

export class Router {
  private readonly routers: CompiledRouter[];
  private readonly queues: Map<string, QueueSpec>;

  constructor(private readonly config: RouterConfig) {
    this.routers = compileRoutes(config.taskRoutes);
    const declared = config.taskQueues.length > 0 ? config.taskQueues : [this.defaultQueue()];
    this.queues = new Map(declared.map((q) => [q.name, this.withDefaultExchange(q)]));
  }

  /** Celery's default queue when `task_queues` is empty (`AMQP.Queues`, `celery/app/amqp.py:251`). */
  private defaultQueue(): QueueSpec {
    const { config } = this;
    return { name: config.taskDefaultQueue, routingKey: config.taskDefaultRoutingKey, ...this.maxPriority() };
  }

  /**
   * A declared queue with no exchange is bound to the default exchange (`Queues._add`, `celery/app/amqp.py:118`);
   * its binding key is its name, or the default routing key when given as `''`. An exchange type without an
   * exchange would be silently replaced by Celery, so it is refused instead.
   */
  private withDefaultExchange(queue: QueueSpec): QueueSpec {
    const { config } = this;
    const routingKey =
      queue.routingKey === '' ? config.taskDefaultRoutingKey : (queue.routingKey ?? queue.name);
    if (queue.exchange) return { ...queue, routingKey };
    if (queue.exchangeType !== undefined && queue.exchangeType !== config.taskDefaultExchangeType) {
      throw new ImproperlyConfigured(
        `taskQueues: queue "${queue.name}" has exchangeType "${queue.exchangeType}" but no exchange: name its exchange, or set taskDefaultExchangeType`,
      );
    }
    return {
      ...queue,
      exchange: config.taskDefaultExchange,
      exchangeType: config.taskDefaultExchangeType,
      routingKey,
    };
  }

  private maxPriority(): { maxPriority?: number } {
    const max = this.config.taskQueueMaxPriority;
    return max !== null ? { maxPriority: max } : {};
  }

  /** The declared queue of that name, or one created as Celery's `task_create_missing_queues` does. */
  queue(name: string): QueueSpec {
    const known = this.queues.get(name);
    if (known) return known;
    if (!this.config.taskCreateMissingQueues) {
      throw new ImproperlyConfigured(
        `Queue "${name}" missing from taskQueues: declare it there or enable taskCreateMissingQueues`,
      );
    }
    // `Queues.new_missing`: a direct exchange named after the queue, whatever the default exchange is.
    const spec: QueueSpec = {
      name,
      exchange: name,
      exchangeType: 'direct',
      routingKey: name,
      ...this.maxPriority(),
    };
    this.queues.set(name, spec);
    return spec;
  }

  route(
    name: string,
    args: readonly unknown[],
    kwargs: Readonly<Record<string, unknown>>,
    request: RouteRequest,
  ): ResolvedRoute {
    let target: RouteTarget | undefined;
    if (request.queue === undefined && request.exchange === undefined) {
      for (const router of this.routers) {
        target = router(name, args, kwargs);
        if (target !== undefined) break;
      }
    }
    const fromRoute = typeof target === 'string' ? { queue: target } : (target ?? {});
    const queueName =
      request.queue ?? fromRoute.queue ?? (request.exchange ? undefined : this.config.taskDefaultQueue);
    const queue = queueName === undefined ? undefined : this.queue(queueName);
    const exchangeType = request.exchangeType ?? fromRoute.exchangeType ?? queue?.exchangeType ?? 'direct';
    let exchange = request.exchange ?? fromRoute.exchange;
    let routingKey = request.routingKey ?? fromRoute.routingKey;
    if ((!exchange || !routingKey) && exchangeType === 'direct' && queue) {
      exchange = '';
      routingKey = queue.name;
    } else {
      exchange ??= queue?.exchange ?? queue?.name ?? '';
      routingKey ??= queue?.routingKey ?? queue?.name ?? '';
    }
    const priority = request.priority ?? fromRoute.priority ?? this.config.taskDefaultPriority;
    return { queue, route: { exchange, routingKey }, priority: priority ?? null };
  }
}
