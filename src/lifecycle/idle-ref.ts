/**
 * Connections that do not keep the process alive while idle, so that a producer script exits by itself once it
 * has nothing pending (Python exits at the end of a script too; kombu's sockets never block interpreter exit).
 *
 * A connection's socket is ref'd while it has work in flight (a command awaiting its reply, a subscription, a
 * consumer, an unconfirmed publish) and unref'd when idle, so that an awaited operation always keeps the process
 * alive until it settles, and an idle connection never does. A worker and beat keep the process alive by their
 * own `KeepAlive` hold for as long as they run. `app.close()` remains the way to close connections at once.
 */

interface Refable {
  ref(): unknown;
  unref(): unknown;
}

/** Holds the process alive while at least one hold is open (a ref'd timer that does nothing). */
export class KeepAlive {
  private holds = 0;
  private timer: NodeJS.Timeout | undefined;

  /** Keeps the process alive until the returned function is called (idempotent). */
  hold(): () => void {
    this.holds++;
    this.timer ??= setInterval(() => undefined, 1 << 30);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }
}

/** The process-wide hold a running worker (or beat) keeps while it runs. */
export const processKeepAlive = new KeepAlive();

/** Refs or unrefs a socket (or timer) that may not exist yet. */
export function setRef(handle: Refable | null | undefined, busy: boolean): void {
  if (!handle) return;
  if (busy) handle.ref();
  else handle.unref();
}

/** The parts of an ioredis client this module reads (internals: `condition` and the command hook). */
interface RedisInternals {
  stream?: Refable | null;
  condition?: { subscriber?: unknown } | null;
  reconnectTimeout?: Refable | null;
  sendCommand(command: { promise: Promise<unknown> }, stream?: unknown): unknown;
  on(event: string, listener: () => void): unknown;
}

/**
 * Makes an ioredis client keep the process alive only while a command is in flight (queued offline, written, or
 * awaiting its reply) or while it is subscribed to something. Returns a function that opens an explicit hold
 * (for a caller waiting for a pub/sub message it has not subscribed to yet).
 */
export function unrefWhenIdle(client: object): () => () => void {
  const redis = client as RedisInternals;
  let inflight = 0;
  let holds = 0;
  const busy = (): boolean => inflight > 0 || holds > 0 || Boolean(redis.condition?.subscriber);
  const apply = (): void => {
    setRef(redis.stream, busy());
    setRef(redis.reconnectTimeout, busy());
  };
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    inflight++;
    apply();
    const settled = (): void => {
      inflight--;
      apply();
    };
    command.promise.then(settled, settled);
    return send(command, stream);
  };
  redis.on('connect', apply);
  redis.on('ready', apply);
  redis.on('reconnecting', apply);
  return () => {
    holds++;
    apply();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      holds--;
      apply();
    };
  };
}

/** The parts of an amqplib connection this module reads (internals, amqplib 2.x). */
interface AmqpChannelInternals {
  reply?: unknown;
  pending?: readonly unknown[];
  consumers?: { size: number; keys?: () => Iterable<string> };
  unconfirmed?: readonly unknown[];
}
interface AmqpConnectionInternals {
  stream?: Refable;
  heartbeater?: { sendTimer?: Refable; recvTimer?: Refable };
  channels?: readonly ({ channel?: AmqpChannelInternals } | null)[];
  sendMethod(...args: unknown[]): unknown;
  sendMessage(...args: unknown[]): unknown;
}

/**
 * Consumer tags that do not keep the process alive by themselves (the rpc:// reply-queue consumer, which stays
 * subscribed for the app's lifetime: a caller waiting for a result holds the process itself).
 */
export const passiveConsumerTags = new Set<string>();

function activeConsumers(consumers: { size: number; keys?: () => Iterable<string> } | undefined): boolean {
  if (!consumers || consumers.size === 0) return false;
  if (!consumers.keys) return true;
  for (const tag of consumers.keys()) if (!passiveConsumerTags.has(tag)) return true;
  return false;
}

function amqpBusy(connection: AmqpConnectionInternals): boolean {
  for (const entry of connection.channels ?? []) {
    const channel = entry?.channel;
    if (!channel) continue;
    if (channel.reply || (channel.pending?.length ?? 0) > 0 || activeConsumers(channel.consumers))
      return true;
    if (channel.unconfirmed?.some((callback) => callback !== null)) return true;
  }
  return false;
}

/**
 * Makes an amqplib connection keep the process alive only while a channel awaits a reply, consumes, or has
 * unconfirmed publishes. Every frame sent refs the socket at once (so an awaited operation cannot lose its
 * process); an unref'd timer checks for idleness and unrefs it again. Heartbeat timers never hold the process.
 * Returns a function that stops the checks.
 */
export function unrefAmqpWhenIdle(connection: object, checkEveryMs = 100): () => void {
  const conn = connection as AmqpConnectionInternals;
  setRef(conn.heartbeater?.sendTimer, false);
  setRef(conn.heartbeater?.recvTimer, false);
  const check = (): void => setRef(conn.stream, amqpBusy(conn));
  for (const method of ['sendMethod', 'sendMessage'] as const) {
    const original = conn[method].bind(conn);
    conn[method] = (...args: unknown[]) => {
      setRef(conn.stream, true);
      return original(...args);
    };
  }
  const timer = setInterval(check, checkEveryMs);
  timer.unref();
  check();
  return () => clearInterval(timer);
}
