/**
 * Requests that must not run: expired (`expires` passed) or revoked by id. Checked twice, as Celery's
 * `Request.revoked()` is (`celery/worker/strategy.py` on receipt, `celery/worker/request.py
 * execute_using_pool` before the pool runs it): on receipt, and again when the request gets its pool slot, since it
 * may have waited for an ETA, a rate-limit token or a slot meanwhile. A discarded request is stored REVOKED (with
 * `TaskRevokedError(reason)`), announced (`task-revoked`, the `taskRevoked` hook) and acknowledged.
 *
 * The revoked ids live in `State.revoked` (Celery's LimitedSet: 50,000 ids, 3 h each); `revoke()` fills it, for
 * remote control and anything that persists or shares revokes.
 */
import { constants as osConstants } from 'node:os';
import type { Celery } from '../app/celery.js';
import { emitHook } from '../app/tracer.js';
import { TaskRevokedError } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import { States } from '../types.js';
import type { LimitedSet } from './limited-set.js';
import type { Request } from './request.js';
import type { Settlement } from './settlement.js';
import type { State } from './state.js';
import type { TaskEvents } from './task-events.js';
import type { WorkerIO } from './worker-io.js';

/** The number of a signal name (`SIGTERM`, `TERM`, `9`), as Celery's `signum`; null when unknown. */
function signalNumber(signal: string | null): number | null {
  if (signal === null) return null;
  if (/^\d+$/.test(signal)) return Number(signal);
  const name = signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
  return (osConstants.signals as Record<string, number | undefined>)[name] ?? null;
}

export type RevokeReason = 'expired' | 'revoked' | 'terminated';

export interface RevokesDeps {
  readonly app: Celery;
  readonly state: State;
  readonly settlement: Settlement;
  readonly io: WorkerIO;
  readonly events: TaskEvents;
  readonly logger: Logger;
}

export class Revokes {
  /** `state.revoked`, read on every request. */
  private readonly revoked: LimitedSet;

  constructor(private readonly deps: RevokesDeps) {
    this.revoked = deps.state.revoked;
  }

  /** Adds ids to the revoked set: requests with these ids are discarded on receipt and before they run. */
  revoke(ids: Iterable<string>): void {
    this.revoked.update(ids);
  }

  /**
   * Why the request must not run at `now` (ms since the epoch), or null. Cheap in the common case: no `expires`
   * and nothing revoked costs two comparisons.
   */
  check(request: Request, now: number): RevokeReason | null {
    const { expires } = request.message;
    if (expires !== null && expires <= now) return 'expired';
    if (this.revoked.size > 0 && this.revoked.has(request.id)) return 'revoked';
    return null;
  }

  /** Records a request that will not run as REVOKED, announces it, and acknowledges it. */
  async discard(request: Request, reason: RevokeReason, signal: string | null = null): Promise<void> {
    const { app, io, events, settlement, logger } = this.deps;
    const terminated = reason === 'terminated';
    if (terminated) logger.info(`Terminated task: ${request.label} (${signal ?? 'SIGTERM'})`);
    else logger.info(`Discarding revoked task: ${request.label} (${reason})`);
    request.finished = true;
    const error = new TaskRevokedError(reason);
    (error as { pyArgs?: unknown[] }).pyArgs = [reason];
    const expired = reason === 'expired';
    const signum = terminated ? signalNumber(signal) : null;
    events.send(request, 'task-revoked', { terminated, signum, expired });
    await io.store(request, States.REVOKED, error);
    await settlement.ack(request);
    await emitHook(app.hooks, logger, 'taskRevoked', {
      taskId: request.id,
      taskName: request.name,
      terminated,
      expired,
      signum: terminated ? (signal ?? 'SIGTERM') : null,
      request: request.context(),
    });
  }
}
