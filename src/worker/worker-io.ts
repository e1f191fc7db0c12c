/**
 * The worker's side of a trace (`TraceIO`): which states are stored for a request (Celery's `ignore_result`,
 * `store_errors_even_if_ignored`), one write at a time per request so they land in order, chord parts, and
 * retries. What runs next (callbacks, chain links, errbacks, the failed rest of a chain) is canvas/next.ts, which
 * eager runs use too.
 */
import type { Celery } from '../app/celery.js';
import type { TraceIO } from '../app/tracer.js';
import type { CallOptions } from '../app/task.js';
import type { ResultBackend } from '../backends/backend.js';
import { buildMeta, type MetaRequest } from '../backends/meta.js';
import { EncodeError, type Retry } from '../errors.js';
import type { Logger } from '../lifecycle/logger.js';
import { isReadyState, States, type ResultTuple } from '../types.js';
import { onChordPartReturn, type ChordMember } from '../canvas/chord-join.js';
import { chordMember, errbackSteps, failChain, runSteps, successSteps } from '../canvas/next.js';
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
        if (error instanceof EncodeError && state !== States.FAILURE) {
          // A value the result serializer cannot encode (a Buffer in JSON, say) fails the task as Celery's tracer
          // does, so that its state is visible instead of PENDING forever.
          this.deps.logger.error(
            `${request.label}: its ${state} result cannot be stored (${error.message}); stored as FAILURE`,
          );
          return this.store(request, States.FAILURE, error);
        }
        this.deps.logger.error(
          { err: error },
          `Could not store the ${state} state of ${request.label}: ${(error as Error).message}`,
        );
        stored = false;
      }
    }
    const member = stored && isReadyState(state) ? chordMember(request.message) : null;
    if (member) stored = await this.chordPart(request, member, state, result);
    return stored;
  }

  /** Counts a finished header task in its chord; false (logged) when the counter could not be reached. */
  private async chordPart(
    request: Request,
    member: ChordMember,
    state: string,
    result: unknown,
  ): Promise<boolean> {
    try {
      await onChordPartReturn(this.deps, member, state, result);
      return true;
    } catch (error) {
      this.deps.logger.error(
        { err: error },
        `Could not record ${request.label} as a part of chord ${member.group}: ${(error as Error).message}`,
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

  /** The trace side effects for one request; what runs next is canvas/next.ts, as in eager runs. */
  forRequest(request: Request): TraceIO {
    const { app, logger } = this.deps;
    return {
      hooks: app.hooks,
      logger,
      store: (state, result, children) => this.store(request, state, result, children),
      followUps: (value) => runSteps(app, successSteps(request.message, value)),
      errbacks: async (error) => {
        await failChain(this.deps, request.message, error, this.stores(request, States.FAILURE));
        await runSteps(app, errbackSteps(request.message));
      },
      resend: (retry) => this.resend(request, retry),
    };
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
