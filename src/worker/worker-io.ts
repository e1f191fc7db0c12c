/**
 * The worker's side of a trace (`TraceIO`): which states are stored for a request (Celery's `ignore_result`,
 * `store_errors_even_if_ignored`), one write at a time per request so they land in order, and what is published
 * next (callbacks, chain links, errbacks, retries).
 */
import type { Celery } from '../app/celery.js';
import type { TraceIO } from '../app/tracer.js';
import type { CallOptions } from '../app/task.js';
import type { ResultBackend } from '../backends/backend.js';
import { buildMeta, type MetaRequest } from '../backends/meta.js';
import type { Retry } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import { isReadyState, States, type ResultTuple } from '../types.js';
import { onChordPartReturn, outcomeIds } from '../canvas/chord-join.js';
import { isDict } from '../canvas/freeze.js';
import { publishErrbacks, publishSuccessFollowUps } from './followups.js';
import type { Request } from './request.js';

/** Stores for one request are chained: a STARTED written late can never land after its SUCCESS or FAILURE. */
const chains = new WeakMap<Request, Promise<unknown>>();

export interface WorkerIODeps {
  readonly app: Celery;
  readonly backend: ResultBackend;
  readonly logger: Logger;
  readonly hostname: string;
}

export class WorkerIO {
  constructor(private readonly deps: WorkerIODeps) {}

  private metaRequest(request: Request): MetaRequest {
    const m = request.message;
    return {
      taskId: m.id,
      groupId: m.group,
      parentId: m.parentId,
      name: m.task,
      args: m.args,
      kwargs: m.kwargs,
      worker: this.deps.hostname,
      retries: m.retries,
      queue: request.delivery.queue,
    };
  }

  /** Writes a state now (after the request's earlier writes); rejects when the backend fails. */
  write(request: Request, state: string, result: unknown, children?: ResultTuple[]): Promise<void> {
    const meta = buildMeta({
      state,
      result,
      request: this.metaRequest(request),
      extended: this.deps.app.conf.resultExtended,
      ...(children ? { children } : {}),
    });
    const previous = chains.get(request);
    const next = previous
      ? previous.catch(() => undefined).then(() => this.deps.backend.store(meta, request.storeContext))
      : this.deps.backend.store(meta, request.storeContext);
    chains.set(request, next);
    return next;
  }

  /**
   * Whether a state is stored for this request, as `celery/app/trace.py`: results are skipped when the task or the
   * message ignores results; errors (FAILURE, RETRY, REVOKED) are skipped only when the task ignores results,
   * unless it sets `storeErrorsEvenIfIgnored`.
   */
  stores(request: Request, state: string): boolean {
    const { settings } = request;
    if (state === States.FAILURE || state === States.RETRY || state === States.REVOKED) {
      return settings.ignoreResult ? settings.storeErrorsEvenIfIgnored : true;
    }
    if (state === States.STARTED) return settings.trackStarted && !settings.ignoreResult;
    return !request.ignoreResult;
  }

  /**
   * Stores by policy; resolves false (and logs) when the write failed. A finished chord header task then records
   * its part (even when its result is ignored, as Celery's `mark_as_done`).
   */
  async store(request: Request, state: string, result: unknown, children?: ResultTuple[]): Promise<boolean> {
    let stored = true;
    if (this.stores(request, state)) {
      try {
        await this.write(request, state, result, children);
      } catch (error) {
        this.deps.logger.error(
          { err: error },
          `Could not store the ${state} state of ${request.label}: ${(error as Error).message}`,
        );
        stored = false;
      }
    }
    if (stored && request.message.embed.chord && isReadyState(state)) {
      stored = await this.chordPart(request, state, result);
    }
    return stored;
  }

  /** Counts a finished header task in its chord; false (logged) when the counter could not be reached. */
  private async chordPart(request: Request, state: string, result: unknown): Promise<boolean> {
    const m = request.message;
    try {
      await onChordPartReturn(
        this.deps,
        { id: m.id, group: m.group, groupIndex: m.groupIndex, chord: m.embed.chord!, rootId: m.rootId },
        state,
        result,
      );
      return true;
    } catch (error) {
      this.deps.logger.error(
        { err: error },
        `Could not record ${request.label} as a part of chord ${m.group}: ${(error as Error).message}`,
      );
      return false;
    }
  }

  /** A custom state from `updateState`: always stored (Celery's `update_state` ignores `ignore_result`). */
  async updateState(request: Request, state: string, meta: unknown): Promise<void> {
    if (request.finished) {
      this.deps.logger.warn(
        `${request.label} called updateState(${state}) after its outcome was recorded (it was abandoned at its` +
          ' hard time limit); the state was not stored',
      );
      return;
    }
    await this.write(request, state, meta);
  }

  /** The trace side effects for one request. */
  forRequest(request: Request): TraceIO {
    const { app, logger } = this.deps;
    return {
      hooks: app.hooks,
      logger,
      store: (state, result, children) => this.store(request, state, result, children),
      followUps: (value) => publishSuccessFollowUps(app, request, value),
      errbacks: async (error) => {
        await this.propagateToChain(request, error);
        await publishErrbacks(app, request);
      },
      resend: (retry) => this.resend(request, retry),
    };
  }

  /**
   * A failed task fails the rest of its chain too, so that waiting on the chain's last result does not hang
   * (`celery/backends/base.py mark_as_failure`).
   */
  private async propagateToChain(request: Request, error: unknown): Promise<void> {
    const failure = error instanceof Error ? error : new Error(String(error));
    for (const link of request.message.embed.chain ?? []) {
      if (this.stores(request, States.FAILURE)) {
        // Every id that stands for the link's outcome: a chord's body too, so that waiting on it never hangs.
        for (const id of outcomeIds(link)) {
          const meta = buildMeta({
            state: States.FAILURE,
            result: failure,
            request: { taskId: id, parentId: request.id },
          });
          // rpc: the chain's results go to the same caller as this task's.
          await this.deps.backend.store(meta, { replyTo: request.message.replyTo, correlationId: id });
        }
      }
      // A link that is a member of a chord (the last task of a chain in a chord header) fails its part there.
      const chord = link.options.chord;
      const id = link.options.task_id;
      if (isDict(chord) && typeof id === 'string' && typeof link.options.group_id === 'string') {
        const index = link.options.group_index;
        await onChordPartReturn(
          this.deps,
          { id, group: link.options.group_id, groupIndex: typeof index === 'number' ? index : null, chord },
          States.FAILURE,
          failure,
        );
      }
    }
  }

  /** Publishes the retry's message with the task's own calling defaults under the retry's options. */
  private async resend(request: Request, retry: Retry): Promise<void> {
    const sig = retry.sig!;
    await this.deps.app.sendTask(
      sig.task,
      sig.args,
      sig.kwargs,
      request.task.callOptions(sig.options as CallOptions),
    );
  }
}
