/**
 * The worker's remote-control mailbox (Celery's pidbox consumer, `celery/worker/pidbox.py` over `kombu/pidbox.py`
 * `Node`): a subscription to `<node>.celery.pidbox` on the `celery.pidbox` fanout (PUBLISH on Redis, an
 * auto-deleting queue on RabbitMQ). Each request for this node runs its command and, when it carries a `reply_to`,
 * is answered on `reply.celery.pidbox` with the request's ticket. Nothing a request holds can stop the mailbox: a
 * malformed message, an unknown command, bad arguments or a failing handler each get an `{"error": ...}` reply and
 * a log line; a reply queue that vanished (its client gave up) is not an error. The subscription comes back by
 * itself after a broker restart (the broker seam's promise).
 */
import type { Broker, Subscription, SubscriptionMessage } from '../brokers/broker.js';
import { LamportClock } from '../events/clock.js';
import type { Logger } from '../lifecycle/logger.js';
import type { Service } from '../lifecycle/service.js';
import type { JsonValue } from '../types.js';
import { Arguments, CommandArgumentError } from './arguments.js';
import { COMMAND_ALIASES, type CommandContext } from './commands.js';
import { findCommand } from './registry.js';
import type { ControlTarget } from './target.js';
import {
  CONTROL_NAMESPACE,
  ControlMessageError,
  decodeJsonBody,
  isForNode,
  mailboxSubscription,
  parseRequest,
  replyExchange,
  replyMessage,
  type ControlRequest,
} from './wire.js';

export interface MailboxOptions {
  readonly broker: Broker;
  readonly target: ControlTarget;
  readonly logger: Logger;
  /** `control_exchange` (default `celery`). */
  readonly namespace?: string;
}

export class Mailbox implements Service {
  readonly name = 'control mailbox';
  /** The mailbox's Lamport clock (`Mailbox.clock`): adjusted by every request, forwarded by every reply. */
  readonly clock = new LamportClock();
  private subscription: Subscription | undefined;
  private readonly namespace: string;
  private replyDeclared: Promise<void> | undefined;
  /** Handlers under way, so that a stop waits for their replies. */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: MailboxOptions) {
    this.namespace = options.namespace ?? CONTROL_NAMESPACE;
  }

  async start(): Promise<void> {
    const { broker, target, logger } = this.options;
    if (!broker.subscriptions) {
      logger.warn(`Remote control is off: the broker ${broker.url} cannot broadcast to this process`);
      return;
    }
    this.subscription = await broker.subscriptions.subscribe(
      mailboxSubscription(target.hostname, this.namespace),
      (message) => this.receive(message),
    );
  }

  /** A warm shutdown keeps answering (`inspect active` shows what it waits for); `stop()` closes the mailbox. */
  async drain(): Promise<void> {}

  async stop(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.cancel();
    await Promise.all([...this.pending]);
  }

  private receive(message: SubscriptionMessage): void {
    const clock = message.message.headers.clock;
    this.clock.adjust(typeof clock === 'number' ? clock : 0);
    let request: ControlRequest;
    try {
      request = parseRequest(decodeJsonBody(message.message));
    } catch (error) {
      // Without a readable reply_to there is no one to answer; the log line is all there is.
      this.options.logger.error(`Remote control: ${(error as Error).message}`);
      this.replyToUnreadable(message, error as Error);
      return;
    }
    if (!isForNode(request, this.options.target.hostname)) return;
    const work = this.dispatch(request).finally(() => this.pending.delete(work));
    this.pending.add(work);
  }

  /** A message whose body is JSON with a reply_to but is otherwise malformed still gets its error reply. */
  private replyToUnreadable(message: SubscriptionMessage, error: Error): void {
    if (!(error instanceof ControlMessageError) || message.message.contentType !== 'application/json') return;
    let body: unknown;
    try {
      body = JSON.parse(message.message.body.toString('utf8'));
    } catch {
      return;
    }
    const { reply_to: replyTo, ticket } = (body ?? {}) as { reply_to?: unknown; ticket?: unknown };
    const to = replyTo as { exchange?: unknown; routing_key?: unknown } | undefined;
    if (typeof to?.exchange !== 'string' || typeof to.routing_key !== 'string') return;
    void this.reply(
      { exchange: to.exchange, routing_key: to.routing_key },
      typeof ticket === 'string' ? ticket : '',
      {
        error: error.message,
      },
    );
  }

  /** Runs the command and sends its reply (Celery's `Node.dispatch`). */
  private async dispatch(request: ControlRequest): Promise<void> {
    const { logger, target } = this.options;
    const reply = await this.run(request);
    if (reply && typeof reply === 'object' && !Array.isArray(reply) && 'error' in reply) {
      logger.error(`Remote control ${request.method}: ${JSON.stringify(reply.error)}`);
    } else {
      logger.debug(`Remote control ${request.method} from ${request.reply_to?.routing_key ?? 'a cast'}`);
    }
    if (request.reply_to) await this.reply(request.reply_to, request.ticket ?? '', reply);
    // A shutdown starts only once its reply is on its way.
    if (request.method === 'shutdown' && !(reply && typeof reply === 'object' && 'error' in reply)) {
      logger.warn('Got shutdown from remote');
      target.shutdown();
    }
  }

  private async run(request: ControlRequest): Promise<JsonValue> {
    const { target } = this.options;
    const name = COMMAND_ALIASES[request.method] ?? request.method;
    const command = findCommand(target.app, name);
    if (!command) return { error: `No such command: ${request.method}` };
    const context: CommandContext = {
      target: name === 'shutdown' ? noShutdown(target) : target,
      clock: this.clock,
    };
    try {
      const reply = await command.handler(context, new Arguments(name, request.arguments));
      return reply === undefined ? null : reply;
    } catch (error) {
      if (error instanceof CommandArgumentError) return { error: error.message };
      const err = error as Error;
      this.options.logger.error({ err }, `Remote control ${name} failed: ${err.message}`);
      return { error: `${err.name ?? 'Error'}: ${err.message}` };
    }
  }

  /** Publishes a reply; a reply queue that is gone (the client stopped waiting) is not an error. */
  private async reply(
    to: { exchange: string; routing_key: string },
    ticket: string,
    reply: JsonValue,
  ): Promise<void> {
    const { broker, target, logger } = this.options;
    try {
      this.replyDeclared ??= broker.declareExchange(replyExchange(this.namespace)).catch((error: unknown) => {
        this.replyDeclared = undefined;
        throw error;
      });
      await this.replyDeclared;
      const message = replyMessage(target.hostname, reply, ticket, this.clock.forward());
      await broker.publish(message, { exchange: to.exchange, routingKey: to.routing_key });
    } catch (error) {
      logger.debug(`Remote control reply to ${to.routing_key} not delivered: ${(error as Error).message}`);
    }
  }
}

/** The shutdown handler replies first; the mailbox starts the shutdown after the reply (see dispatch). */
function noShutdown(target: ControlTarget): ControlTarget {
  return new Proxy(target, {
    get: (t, key, receiver) =>
      key === 'shutdown' ? () => undefined : (Reflect.get(t, key, receiver) as unknown),
  });
}
