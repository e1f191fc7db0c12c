/**
 * Pool children never talk to the broker or the result backend: only the worker does (one connection, one set of
 * leases, nothing to clean up when a child dies). Inside a child every broker and backend the app asks for is a
 * stand-in that forwards the call to the worker over IPC: a task that calls `other.delay()`, `task.retry()` or
 * `AsyncResult.get()` works as it does in-process, and the worker publishes or reads on its behalf.
 *
 * This file holds both halves: the stand-ins (child side) and `serveCall` (worker side, with the list of
 * methods a child may call).
 */
import type {
  BackendCapabilities,
  ChordCounter,
  ChordPart,
  ChordProgress,
  GroupMeta,
  ResultBackend,
  StoreContext,
  WaitOptions,
} from '../../backends/backend.js';
import { pollUntilReady } from '../../backends/wait.js';
import type {
  Broker,
  BrokerCapabilities,
  Consumer,
  Delivery,
  ExchangeSpec,
  PublishItem,
  PublishOptions,
  QueueSpec,
  RejectOptions,
  Route,
} from '../../brokers/broker.js';
import { ImproperlyConfigured } from '../../errors.js';
import type { WireMessage } from '../../protocol/message.js';
import type { JsonValue, ResultMeta } from '../../types.js';
import { asBuffer, type CallTarget } from './ipc.js';

/** Sends a call to the worker and resolves with its answer (errors rebuilt). */
export type CallParent = (target: CallTarget, method: string, args: readonly unknown[]) => Promise<unknown>;

function notInChild(what: string): never {
  throw new ImproperlyConfigured(
    `${what} is not available inside a pool child: only the worker consumes and settles messages`,
  );
}

/**
 * What a stand-in can do: publish and declare wherever the worker's broker can (so routing, priorities, delayed
 * delivery, durability and sharing are the worker broker's), but never consume or settle (the worker does), so
 * nothing is redelivered, lost or dead-lettered through it.
 */
export function standInCapabilities(worker: BrokerCapabilities): BrokerCapabilities {
  return {
    ...worker,
    consume: false,
    redeliversOnConsumerLoss: false,
    losesDeliveries: false,
    deadLetter: false,
  };
}

/** The broker as a pool child sees it: publishing and declaring go through the worker. */
export class ParentBroker implements Broker {
  readonly capabilities: BrokerCapabilities;
  /** A child receives nothing: only the worker consumes. */
  readonly subscriptions = null;
  readonly deferral = null;

  constructor(
    readonly url: string,
    workerCapabilities: BrokerCapabilities,
    private readonly call: CallParent,
  ) {
    this.capabilities = standInCapabilities(workerCapabilities);
  }

  async connect(): Promise<void> {}

  async declare(queues: readonly QueueSpec[]): Promise<void> {
    await this.call('broker', 'declare', [queues]);
  }

  async declareExchange(exchange: ExchangeSpec): Promise<void> {
    await this.call('broker', 'declareExchange', [exchange]);
  }

  async publish(message: WireMessage, route: Route, options?: PublishOptions): Promise<void> {
    await this.call('broker', 'publish', options ? [message, route, options] : [message, route]);
  }

  /** One call for the batch: the worker publishes it with its broker's batch path. */
  async publishMany(items: readonly PublishItem[]): Promise<void> {
    if (items.length > 0) await this.call('broker', 'publishMany', [items]);
  }

  consume(): Promise<Consumer> {
    return notInChild('broker.consume()');
  }

  ack(_deliveries: readonly Delivery[]): Promise<void> {
    return notInChild('broker.ack()');
  }

  reject(_delivery: Delivery, _options: RejectOptions): Promise<void> {
    return notInChild('broker.reject()');
  }

  requeue(_deliveries: readonly Delivery[]): Promise<void> {
    return notInChild('broker.requeue()');
  }

  async purge(queue: string): Promise<number> {
    return (await this.call('broker', 'purge', [queue])) as number;
  }

  async size(queue: string): Promise<number> {
    return (await this.call('broker', 'size', [queue])) as number;
  }

  async close(): Promise<void> {}
}

/** The worker backend's chord counter, called through the worker (same keys, same atomicity). */
class ParentChordCounter implements ChordCounter {
  constructor(private readonly call: CallParent) {}

  private chord(method: keyof ChordCounter, args: readonly unknown[]): Promise<unknown> {
    return this.call('backend', `chord.${method}`, args);
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    await this.chord('setChordSize', [groupId, size]);
  }

  async addChordPart(groupId: string, part: ChordPart): Promise<ChordProgress> {
    return (await this.chord('addChordPart', [groupId, part])) as ChordProgress;
  }

  async chordParts(groupId: string): Promise<[number, string, string, JsonValue][]> {
    return (await this.chord('chordParts', [groupId])) as [number, string, string, JsonValue][];
  }

  async addToChord(groupId: string, count?: number): Promise<void> {
    await this.chord('addToChord', count === undefined ? [groupId] : [groupId, count]);
  }

  async claimChord(groupId: string, when: 'complete' | 'incomplete'): Promise<boolean> {
    return (await this.chord('claimChord', [groupId, when])) as boolean;
  }

  async deleteChord(groupId: string): Promise<void> {
    await this.chord('deleteChord', [groupId]);
  }
}

/** The result backend as a pool child sees it: every call is answered by the worker's backend. */
export class ParentBackend implements ResultBackend {
  readonly chordCounter?: ChordCounter;

  constructor(
    readonly url: string,
    readonly capabilities: BackendCapabilities,
    private readonly call: CallParent,
  ) {
    if (capabilities.chords === 'native') this.chordCounter = new ParentChordCounter(call);
  }

  async connect(): Promise<void> {}

  async store(meta: ResultMeta, context?: StoreContext): Promise<void> {
    await this.call('backend', 'store', context ? [meta, context] : [meta]);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    return (await this.call('backend', 'get', [taskId])) as ResultMeta | null;
  }

  /**
   * Waits in the worker (on its push channel) when nobody here needs more than the outcome. Progress callbacks and
   * abort signals cannot cross the boundary, so a wait with either polls the worker's backend from here instead.
   */
  async waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    if (options.onProgress || options.signal) return pollUntilReady(taskId, () => this.get(taskId), options);
    const plain: WaitOptions = { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs };
    return (await this.call('backend', 'waitFor', [taskId, plain])) as ResultMeta;
  }

  async onTaskCall(taskId: string): Promise<void> {
    await this.call('backend', 'onTaskCall', [taskId]);
  }

  async forget(taskId: string): Promise<void> {
    await this.call('backend', 'forget', [taskId]);
  }

  async saveGroup(groupId: string, meta: GroupMeta): Promise<void> {
    await this.call('backend', 'saveGroup', [groupId, meta]);
  }

  async getGroup(groupId: string): Promise<GroupMeta | null> {
    return (await this.call('backend', 'getGroup', [groupId])) as GroupMeta | null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.call('backend', 'deleteGroup', [groupId]);
  }

  /** `celery.backend_cleanup` run in a pool child cleans up through the worker's backend. */
  async cleanup(): Promise<void> {
    await this.call('backend', 'cleanup', []);
  }

  async close(): Promise<void> {}
}

/** A child's message with its body as a Buffer again (structured clone turns it into a Uint8Array). */
function wireOf(value: unknown): WireMessage {
  const message = value as WireMessage;
  return { ...message, body: asBuffer(message.body) };
}

function serveBroker(broker: Broker, method: string, args: readonly unknown[]): Promise<unknown> | undefined {
  switch (method) {
    case 'publish':
      return broker.publish(wireOf(args[0]), args[1] as Route, args[2] as PublishOptions | undefined);
    case 'publishMany': {
      const items = (args[0] as PublishItem[]).map((item) => ({ ...item, message: wireOf(item.message) }));
      return broker.publishMany(items);
    }
    case 'declare':
      return broker.declare(args[0] as QueueSpec[]);
    case 'declareExchange':
      return broker.declareExchange(args[0] as ExchangeSpec);
    case 'purge':
      return broker.purge(args[0] as string);
    case 'size':
      return broker.size(args[0] as string);
  }
  return undefined;
}

function serveChord(
  backend: ResultBackend,
  method: string,
  args: readonly unknown[],
): Promise<unknown> | undefined {
  const counter = backend.chordCounter;
  const id = args[0] as string;
  if (!counter) return undefined;
  switch (method) {
    case 'chord.setChordSize':
      return counter.setChordSize(id, args[1] as number);
    case 'chord.addChordPart':
      return counter.addChordPart(id, args[1] as ChordPart);
    case 'chord.chordParts':
      return counter.chordParts(id);
    case 'chord.addToChord':
      return counter.addToChord(id, args[1] as number | undefined);
    case 'chord.claimChord':
      return counter.claimChord(id, args[1] as 'complete' | 'incomplete');
    case 'chord.deleteChord':
      return counter.deleteChord(id);
  }
  return undefined;
}

function serveBackend(
  backend: ResultBackend,
  method: string,
  args: readonly unknown[],
): Promise<unknown> | undefined {
  const id = args[0] as string;
  switch (method) {
    case 'store':
      return backend.store(args[0] as ResultMeta, args[1] as StoreContext | undefined);
    case 'get':
      return backend.get(id);
    case 'waitFor':
      return backend.waitFor(id, args[1] as WaitOptions);
    case 'onTaskCall':
      return backend.onTaskCall?.(id) ?? Promise.resolve();
    case 'forget':
      return backend.forget(id);
    case 'saveGroup':
      return backend.saveGroup(id, args[1] as GroupMeta);
    case 'getGroup':
      return backend.getGroup(id);
    case 'deleteGroup':
      return backend.deleteGroup(id);
    case 'cleanup':
      return backend.cleanup();
  }
  return serveChord(backend, method, args);
}

/** The worker's side: runs a child's broker or backend call, for the methods a child may use. */
export async function serveCall(
  connections: { readonly broker: Broker; readonly backend: ResultBackend },
  target: 'broker' | 'backend',
  method: string,
  args: readonly unknown[],
): Promise<unknown> {
  const served =
    target === 'broker'
      ? serveBroker(connections.broker, method, args)
      : serveBackend(connections.backend, method, args);
  if (!served) throw new ImproperlyConfigured(`${target}.${method}() cannot be called from a pool child`);
  return served;
}
