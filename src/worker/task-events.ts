/**
 * The worker's task events (`task-received`, `task-started`, `task-succeeded`, ...), one object owned by the
 * worker and given to the consumer, the executor and revokes. Events go out while task events are on
 * (`workerSendTaskEvents`, `-E`, or remote control's `enable_events`) and the task does not turn them off
 * (`sendEvents: false`); otherwise every call is a field check and nothing more.
 *
 * As a Celery 5.2 worker sends them, task events are buffered by the dispatcher and go out as `task.multi` batches;
 * the events a task sends itself (`sendEvent('task-progress', ...)`) go out at once, one message each. Stopping
 * flushes what is buffered.
 */
import { disabledDispatcher, type EventDispatcher } from '../events/dispatcher.js';
import type { EventFields } from '../events/event.js';
import type { Service } from '../lifecycle/service.js';
import { formatAwareIso } from '../protocol/time.js';
import type { JsonValue } from '../types.js';
import type { Request } from './request.js';

export interface TaskEventsOptions {
  /** Task events on from the start (`workerSendTaskEvents`); default: whether the dispatcher is enabled. */
  readonly enabled?: boolean;
}

export class TaskEvents implements Service {
  readonly name = 'task-events';
  private on: boolean;

  constructor(
    private readonly dispatcher: EventDispatcher = disabledDispatcher,
    options: TaskEventsOptions = {},
  ) {
    this.on = dispatcher.enabled && (options.enabled ?? true);
  }

  /** Whether this worker sends task events now. */
  get enabled(): boolean {
    return this.on;
  }

  /**
   * Turns task events on (remote control `enable_events`). Returns false when they were on already, or when this
   * worker has no dispatcher to send them with.
   */
  enable(): boolean {
    if (this.on || !this.dispatcher.enabled) return false;
    this.on = true;
    return true;
  }

  /** Turns task events off (remote control `disable_events`); what is buffered still goes. False when already off. */
  disable(): boolean {
    if (!this.on) return false;
    this.on = false;
    void this.dispatcher.flush();
    return true;
  }

  async start(): Promise<void> {}

  async drain(): Promise<void> {}

  /** Sends the events still buffered, then closes the dispatcher (the last of its users to stop). */
  async stop(): Promise<void> {
    await this.dispatcher.flush();
    this.dispatcher.close?.();
  }

  /** Whether events are sent for this request (events on, and its task sends them). */
  sends(request: Request): boolean {
    return this.on && request.settings.sendEvents;
  }

  /** Sends a task event for a request, when `sends(request)`; never throws (a lost event is logged once). */
  send(request: Request, type: string, fields: Record<string, JsonValue> = {}): void {
    if (!this.on || !request.settings.sendEvents) return;
    void this.dispatcher.send(type, { uuid: request.id, ...fields });
  }

  /** An event the task sends itself (`sendEvent`): published at once, not batched; resolves once sent. */
  async custom(
    request: Request,
    type: string,
    fields: Readonly<Record<string, JsonValue>> = {},
  ): Promise<void> {
    if (!this.on || !request.settings.sendEvents) return;
    await this.dispatcher.send(type, { uuid: request.id, ...fields }, { immediate: true });
  }

  /** An event about a task with no request (an unknown task's `task-failed`). */
  sendFor(taskId: string, type: string, fields: EventFields = {}): void {
    if (!this.on) return;
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
