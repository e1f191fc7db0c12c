/**
 * Pool children never talk to the broker or the result backend: only the worker does (one connection, one set of
 * leases, nothing to clean up when a child dies). Inside a child every broker and backend the app asks for is a
 * stand-in that forwards the call to the worker over IPC: a task that calls `other.delay()`, `task.retry()` or
 * `AsyncResult.get()` works as it does in-process, and the worker publishes or reads on its behalf.
 *
 * This file holds both halves: the stand-ins (child side) and `serveCall` (worker side, with the list of
 * methods a child may call).
 */
import type { BackendCapabilities, GroupMeta, ResultBackend, WaitOptions } from '../../backends/backend.js';
import type {
  Broker,
  BrokerCapabilities,
  Consumer,
  Delivery,
  PublishOptions,
  QueueSpec,
  RejectOptions,
  Route,
} from '../../brokers/broker.js';
import { ImproperlyConfigured } from '../../errors.js';
import type { WireMessage } from '../../protocol/message.js';
import type { ResultMeta } from '../../types.js';
import { asBuffer, type CallTarget } from './ipc.js';

/** Sends a call to the worker and resolves with its answer (errors rebuilt). */
export type CallParent = (target: CallTarget, method: string, args: readonly unknown[]) => Promise<unknown>;

function notInChild(what: string): never {
  throw new ImproperlyConfigured(
    `${what} is not available inside a pool child: only the worker consumes and settles messages`,
  );
}

/** The broker as a pool child sees it: publishing and declaring go through the worker. */
export class ParentBroker implements Broker {
  constructor(
    readonly url: string,
    readonly capabilities: BrokerCapabilities,
    private readonly call: CallParent,
  ) {}

  async connect(): Promise<void> {}

  async declare(queues: readonly QueueSpec[]): Promise<void> {
    await this.call('broker', 'declare', [queues]);
  }

  async publish(message: WireMessage, route: Route, options?: PublishOptions): Promise<void> {
    await this.call('broker', 'publish', options ? [message, route, options] : [message, route]);
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

/** The result backend as a pool child sees it: every call is answered by the worker's backend. */
export class ParentBackend implements ResultBackend {
  constructor(
    readonly url: string,
    readonly capabilities: BackendCapabilities,
    private readonly call: CallParent,
  ) {}

  async connect(): Promise<void> {}

  async store(meta: ResultMeta): Promise<void> {
    await this.call('backend', 'store', [meta]);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    return (await this.call('backend', 'get', [taskId])) as ResultMeta | null;
  }

  /** Progress callbacks and abort signals cannot cross the boundary; the timeout and interval do. */
  async waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
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

  async close(): Promise<void> {}
}

/** The worker's side: runs a child's broker or backend call, for the methods a child may use. */
export async function serveCall(
  connections: { readonly broker: Broker; readonly backend: ResultBackend },
  target: 'broker' | 'backend',
  method: string,
  args: readonly unknown[],
): Promise<unknown> {
  const { broker, backend } = connections;
  if (target === 'broker') {
    switch (method) {
      case 'publish': {
        const message = args[0] as WireMessage;
        const wire: WireMessage = { ...message, body: asBuffer(message.body) };
        return broker.publish(wire, args[1] as Route, args[2] as PublishOptions | undefined);
      }
      case 'declare':
        return broker.declare(args[0] as QueueSpec[]);
      case 'purge':
        return broker.purge(args[0] as string);
      case 'size':
        return broker.size(args[0] as string);
    }
  } else {
    const id = args[0] as string;
    switch (method) {
      case 'store':
        return backend.store(args[0] as ResultMeta);
      case 'get':
        return backend.get(id);
      case 'waitFor':
        return backend.waitFor(id, args[1] as WaitOptions);
      case 'onTaskCall':
        return backend.onTaskCall?.(id);
      case 'forget':
        return backend.forget(id);
      case 'saveGroup':
        return backend.saveGroup(id, args[1] as GroupMeta);
      case 'getGroup':
        return backend.getGroup(id);
      case 'deleteGroup':
        return backend.deleteGroup(id);
    }
  }
  throw new ImproperlyConfigured(`${target}.${method}() cannot be called from a pool child`);
}
