/**
 * The worker's task events (`task-received`, `task-started`, `task-succeeded`, ...), one object owned by the
 * worker and given to the consumer, the executor and revokes. Events go out when the worker sends task events
 * (`workerSendTaskEvents`, `-E`) and the task does not turn them off (`sendEvents: false`); otherwise every call
 * is a field check and nothing more.
 *
 * It is a Service so that monitoring can grow it (worker-online/offline, `task.multi` batching flushed on stop,
 * `enable_events`/`disable_events` at runtime) without touching its users.
 */
import { disabledDispatcher, type EventDispatcher } from '../events/dispatcher.js';
import type { EventFields } from '../events/event.js';
import type { Service } from '../lifecycle/service.js';
import { formatAwareIso } from '../protocol/time.js';
import type { JsonValue } from '../types.js';
import type { Request } from './request.js';

export class TaskEvents implements Service {
  readonly name = 'task-events';

  constructor(private readonly dispatcher: EventDispatcher = disabledDispatcher) {}

  /** Whether this worker sends task events at all. */
  get enabled(): boolean {
    return this.dispatcher.enabled;
  }

  async start(): Promise<void> {}

  async drain(): Promise<void> {}

  async stop(): Promise<void> {}

  /** Whether events are sent for this request (events on, and its task sends them). */
  sends(request: Request): boolean {
    return this.dispatcher.enabled && request.settings.sendEvents;
  }

  /** Sends a task event for a request, when `sends(request)`; never throws (a lost event is logged once). */
  send(request: Request, type: string, fields: Record<string, JsonValue> = {}): void {
    if (!this.dispatcher.enabled || !request.settings.sendEvents) return;
    void this.dispatcher.send(type, { uuid: request.id, ...fields });
  }

  /** An event about a task with no request (an unknown task's `task-failed`). */
  sendFor(taskId: string, type: string, fields: EventFields = {}): void {
    if (!this.dispatcher.enabled) return;
    void this.dispatcher.send(type, { uuid: taskId, ...fields });
  }

  /** `task-received`, with Celery's fields (`celery/worker/strategy.py`). */
  received(request: Request): void {
    if (!this.sends(request)) return;
    const m = request.message;
    this.send(request, 'task-received', {
      name: request.name,
      args: m.argsrepr ?? '',
      kwargs: m.kwargsrepr ?? '',
      root_id: m.rootId,
      parent_id: m.parentId,
      retries: m.retries,
      eta: m.eta === null ? null : formatAwareIso(m.eta),
      expires: m.expires === null ? null : formatAwareIso(m.expires),
    });
  }
}
