/**
 * `app.control`: the remote-control client (Celery's `celery/app/control.py` `Control` and `Inspect` over kombu's
 * `Mailbox._broadcast`). A request is published to the `celery.pidbox` fanout; when replies are wanted, a reply
 * queue of its own (`<oid>.reply.celery.pidbox`) is subscribed first and read until `timeout` seconds passed or
 * `limit` replies came (the number of destinations when they are named), then deleted. Durations are seconds.
 */
import type { Celery } from '../app/celery.js';
import type { Broker } from '../brokers/broker.js';
import { ImproperlyConfigured } from '../errors.js';
import { LamportClock } from '../events/clock.js';
import { uuid } from '../protocol/ids.js';
import type { JsonObject, JsonValue } from '../types.js';
import { builtinCommandMeta, type CommandMeta } from './commands.js';
import {
  registerUserCommand,
  userCommands,
  type UserCommandHandler,
  type UserCommandOptions,
} from './registry.js';
import type {
  ActiveQueue,
  ClockReply,
  ControlReply,
  HelloReply,
  QueryTaskReply,
  RequestInfoReply,
  ScheduledReply,
  StatsReply,
} from './replies.js';
import {
  CONTROL_NAMESPACE,
  decodeJsonBody,
  pidboxExchange,
  replyExchange,
  replySubscription,
  requestMessage,
  type ControlRequest,
} from './wire.js';

/** Who a request is for, and how long to wait for replies. */
export interface DestinationOptions {
  /** Node names (`celery@host`); default: every worker. */
  readonly destination?: readonly string[] | string | null;
  /** Seconds to wait for replies (default 1). */
  readonly timeout?: number;
  /** Stop waiting after this many replies (default: the number of destinations, else none). */
  readonly limit?: number;
  /** Node names matching this (`matcher`: `glob` by default, or `pcre`). */
  readonly pattern?: string;
  readonly matcher?: 'glob' | 'pcre';
  /** Called with each reply as it comes (`{node: reply}`). */
  readonly callback?: (reply: Record<string, JsonValue>) => void;
}

export interface BroadcastOptions extends DestinationOptions {
  /** Keyword arguments of the command. */
  readonly arguments?: JsonObject;
  /** Wait for replies (default false: fire and forget, as Celery's `broadcast`). */
  readonly reply?: boolean;
}

/** Replies per node (Celery's `Inspect` result; empty when no node replied). */
export type NodeReplies<T> = Record<string, T>;

export interface RevokeCallOptions extends DestinationOptions {
  /** Also end the task if it is running (the pool's way: abort, or kill its thread or process). */
  readonly terminate?: boolean;
  /** Signal for `terminate` (default `SIGTERM`). */
  readonly signal?: string;
  /** Wait for the workers' replies (default false). */
  readonly reply?: boolean;
}

/** `app.control.inspect(...)`: read-only commands, each resolving with the replies by node. */
export class Inspect {
  constructor(
    private readonly control: Control,
    private readonly options: DestinationOptions,
  ) {}

  private async request<T>(method: string, args: JsonObject = {}): Promise<NodeReplies<T>> {
    const replies = await this.control.broadcast(method, { ...this.options, arguments: args, reply: true });
    return Object.assign({}, ...replies) as NodeReplies<T>;
  }

  ping(): Promise<NodeReplies<ControlReply>> {
    return this.request('ping');
  }
  stats(): Promise<NodeReplies<StatsReply>> {
    return this.request('stats');
  }
  active(options: { safe?: boolean } = {}): Promise<NodeReplies<RequestInfoReply[]>> {
    return this.request('active', options.safe === undefined ? {} : { safe: options.safe });
  }
  scheduled(): Promise<NodeReplies<ScheduledReply[]>> {
    return this.request('scheduled');
  }
  reserved(): Promise<NodeReplies<RequestInfoReply[]>> {
    return this.request('reserved');
  }
  revoked(): Promise<NodeReplies<string[]>> {
    return this.request('revoked');
  }
  registered(...taskinfoitems: string[]): Promise<NodeReplies<string[]>> {
    return this.request('registered', taskinfoitems.length > 0 ? { taskinfoitems } : {});
  }
  queryTask(ids: string | readonly string[]): Promise<NodeReplies<QueryTaskReply>> {
    return this.request('query_task', { ids: typeof ids === 'string' ? [ids] : [...ids] });
  }
  activeQueues(): Promise<NodeReplies<ActiveQueue[]>> {
    return this.request('active_queues');
  }
  conf(withDefaults = false): Promise<NodeReplies<JsonObject>> {
    return this.request('conf', { with_defaults: withDefaults });
  }
  report(): Promise<NodeReplies<ControlReply>> {
    return this.request('report');
  }
  clock(): Promise<NodeReplies<ClockReply>> {
    return this.request('clock');
  }
  hello(fromNode: string, revoked: JsonObject = {}): Promise<NodeReplies<HelloReply | null>> {
    return this.request('hello', { from_node: fromNode, revoked });
  }
}

function destinations(value: DestinationOptions['destination']): string[] | null {
  if (value === undefined || value === null) return null;
  const list = typeof value === 'string' ? value.split(',') : [...value];
  const names = list.map((n) => n.trim()).filter(Boolean);
  return names.length > 0 ? names : null;
}

function positiveSeconds(value: number | undefined, what: string): number {
  const seconds = value ?? 1;
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    throw new ImproperlyConfigured(`${what} must be a positive number of seconds, got ${String(value)}`);
  }
  return seconds;
}

export class Control {
  /** The client's Lamport clock (`Mailbox.clock`). */
  readonly clock = new LamportClock();
  private readonly namespace = CONTROL_NAMESPACE;
  private declared: Promise<void> | undefined;

  constructor(readonly app: Celery) {}

  /** Read-only commands for the nodes given (all by default); `timeout` in seconds (default 1). */
  inspect(options: DestinationOptions = {}): Inspect {
    return new Inspect(this, options);
  }

  /**
   * Sends `command` to the workers (Celery's `broadcast`): with `reply`, resolves with the replies that came within
   * `timeout` seconds (`[{node: reply}, ...]`), else with `[]` once the request is published.
   */
  async broadcast(command: string, options: BroadcastOptions = {}): Promise<Record<string, JsonValue>[]> {
    const timeout = positiveSeconds(options.timeout, 'control timeout');
    const destination = destinations(options.destination);
    const broker = await this.app.getBroker();
    await this.declare(broker);
    const request: ControlRequest = {
      method: command,
      arguments: options.arguments ?? {},
      destination,
      pattern: options.pattern ?? null,
      matcher: options.pattern ? (options.matcher ?? 'glob') : null,
    };
    const expires = Date.now() / 1000 + timeout;
    if (!options.reply) {
      await broker.publish(requestMessage(request, this.clock.forward(), expires), this.route());
      return [];
    }
    const limit = options.limit ?? (destination ? destination.length : undefined);
    return this.call(broker, request, { timeout, expires, limit, callback: options.callback });
  }

  private route(): { exchange: string; routingKey: string } {
    return { exchange: pidboxExchange(this.namespace).name, routingKey: '' };
  }

  private declare(broker: Broker): Promise<void> {
    this.declared ??= broker.declareExchange(pidboxExchange(this.namespace)).catch((error: unknown) => {
      this.declared = undefined;
      throw error;
    });
    return this.declared;
  }

  private async call(
    broker: Broker,
    request: ControlRequest,
    options: {
      timeout: number;
      expires: number;
      limit: number | undefined;
      callback: DestinationOptions['callback'];
    },
  ): Promise<Record<string, JsonValue>[]> {
    if (!broker.subscriptions) {
      throw new ImproperlyConfigured(
        `The broker ${broker.url} cannot receive replies: use redis://, amqp:// or sqlite://`,
      );
    }
    const oid = uuid();
    const ticket = uuid();
    const replies: Record<string, JsonValue>[] = [];
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const subscription = await broker.subscriptions.subscribe(
      replySubscription(oid, this.namespace),
      (message) => {
        const clock = message.message.headers.clock;
        this.clock.adjust(typeof clock === 'number' ? clock : 0);
        if (message.message.headers.ticket !== ticket) return;
        let body: unknown;
        try {
          body = decodeJsonBody(message.message);
        } catch {
          return;
        }
        if (!body || typeof body !== 'object' || Array.isArray(body)) return;
        replies.push(body as Record<string, JsonValue>);
        options.callback?.(body as Record<string, JsonValue>);
        if (options.limit !== undefined && replies.length >= options.limit) done();
      },
    );
    const timer = setTimeout(done, options.timeout * 1000);
    try {
      const withReply: ControlRequest = {
        ...request,
        ticket,
        reply_to: { exchange: replyExchange(this.namespace).name, routing_key: oid },
      };
      await broker.publish(requestMessage(withReply, this.clock.forward(), options.expires), this.route());
      await finished;
    } finally {
      clearTimeout(timer);
      await subscription.cancel();
    }
    return replies;
  }

  /** Pings the workers; resolves with `[{node: {ok: 'pong'}}, ...]` (Celery's `control.ping`). */
  ping(options: DestinationOptions = {}): Promise<Record<string, JsonValue>[]> {
    return this.broadcast('ping', { ...options, reply: true });
  }

  /**
   * Revokes tasks by id on every worker (Celery's `control.revoke`); with `terminate`, running ones are ended too.
   * Workers started later learn of it from the others at start (mingle).
   */
  revoke(
    ids: string | readonly string[],
    options: RevokeCallOptions = {},
  ): Promise<Record<string, JsonValue>[]> {
    const list = typeof ids === 'string' ? [ids] : [...ids];
    return this.broadcast('revoke', {
      ...options,
      arguments: {
        task_id: list,
        terminate: options.terminate ?? false,
        signal: options.signal ?? 'SIGTERM',
      },
    });
  }

  /** Revokes and ends running tasks with `signal` (default SIGTERM). */
  terminate(
    ids: string | readonly string[],
    signal = 'SIGTERM',
    options: DestinationOptions & { reply?: boolean } = {},
  ) {
    return this.revoke(ids, { ...options, terminate: true, signal });
  }

  private cmd(name: string, args: JsonObject, options: DestinationOptions & { reply?: boolean }) {
    return this.broadcast(name, { ...options, arguments: args });
  }

  /** Sets a task's rate limit (`"10/s"`, `"100/m"`, `"5/h"`, a number per second; null or 0 removes it). */
  rateLimit(
    task: string,
    rate: string | number | null,
    options: DestinationOptions & { reply?: boolean } = {},
  ) {
    return this.cmd('rate_limit', { task_name: task, rate_limit: rate }, options);
  }

  /** Sets a task's soft and hard time limits, in seconds (null: none). */
  timeLimit(
    task: string,
    soft: number | null = null,
    hard: number | null = null,
    options: DestinationOptions & { reply?: boolean } = {},
  ) {
    return this.cmd('time_limit', { task_name: task, soft, hard }, options);
  }

  addConsumer(
    queue: string,
    options: DestinationOptions & {
      reply?: boolean;
      exchange?: string;
      exchangeType?: string;
      routingKey?: string;
    } = {},
  ) {
    const args: JsonObject = { queue };
    if (options.exchange !== undefined) args.exchange = options.exchange;
    if (options.exchangeType !== undefined) args.exchange_type = options.exchangeType;
    if (options.routingKey !== undefined) args.routing_key = options.routingKey;
    return this.cmd('add_consumer', args, options);
  }

  cancelConsumer(queue: string, options: DestinationOptions & { reply?: boolean } = {}) {
    return this.cmd('cancel_consumer', { queue }, options);
  }

  poolGrow(n = 1, options: DestinationOptions & { reply?: boolean } = {}) {
    return this.cmd('pool_grow', { n }, options);
  }

  poolShrink(n = 1, options: DestinationOptions & { reply?: boolean } = {}) {
    return this.cmd('pool_shrink', { n }, options);
  }

  poolRestart(options: DestinationOptions & { reply?: boolean } = {}) {
    return this.cmd('pool_restart', {}, options);
  }

  autoscale(max: number, min: number, options: DestinationOptions & { reply?: boolean } = {}) {
    return this.cmd('autoscale', { max, min }, options);
  }

  /** Warm shutdown of the workers. */
  shutdown(options: DestinationOptions & { reply?: boolean } = {}) {
    return this.cmd('shutdown', {}, options);
  }

  enableEvents(options: DestinationOptions & { reply?: boolean } = {}) {
    return this.cmd('enable_events', {}, options);
  }

  disableEvents(options: DestinationOptions & { reply?: boolean } = {}) {
    return this.cmd('disable_events', {}, options);
  }

  heartbeat(options: DestinationOptions & { reply?: boolean } = {}) {
    return this.cmd('heartbeat', {}, options);
  }

  /** Every command this app's workers answer: Celery's built-ins and the app's own (`command()`), with their usage. */
  commands(): CommandMeta[] {
    const own = userCommands(this.app).map(({ handler: _handler, ...meta }) => meta);
    return [...builtinCommandMeta(), ...own];
  }

  /**
   * Registers a command of your own on this app's workers (Celery's `@control_command` / `@inspect_command`):
   * every worker of this app in this process answers it. Call it with `broadcast(name, {arguments, reply})`.
   */
  command(name: string, handler: UserCommandHandler, options: UserCommandOptions = {}): void {
    registerUserCommand(this.app, name, handler, options);
  }
}
