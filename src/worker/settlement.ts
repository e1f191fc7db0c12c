/**
 * The one owner of a delivery's fate. Every acknowledgement, reject, requeue, give-back, defer and loss of a
 * request's delivery goes through here, and each happens at most once: `Request.fate` moves out of `held` once
 * (the only way back is a failed `defer`, `deferring -> held`), and any later attempt is a no-op, logged at debug.
 * Acknowledgements are batched (one `broker.ack` per event-loop turn).
 *
 * It also keeps the prefetch accounting: the worker raises its prefetch by one for each request held for an ETA
 * (as Celery's `strategy.py:194`) and for each request waiting for a rate-limit token (up to
 * `RATE_LIMIT_MAX_HELD` per task), so that those do not starve the queue; the credit is given back when the
 * request leaves the worker (`release`).
 */
import type { Broker, Delivery } from '../brokers/broker.js';
import { Batcher } from '../lifecycle/async.js';
import type { Logger } from '../lifecycle/logger.js';
import type { Service } from '../lifecycle/service.js';
import type { Fate, Request } from './request.js';
import type { State } from './state.js';

/**
 * Rate-limited requests waiting for a token do not count against prefetch (so other tasks keep flowing), up to
 * this many per task; past it the worker stops fetching extra messages for them, so a queue full of one
 * rate-limited task is not pulled into memory all at once.
 */
export const RATE_LIMIT_MAX_HELD = 1000;

export interface SettlementOptions {
  readonly broker: Broker;
  readonly logger: Logger;
  /** Where the prefetch now in force is recorded (`state.prefetchCount`), with the base prefetch. */
  readonly state: State;
  /**
   * Called synchronously before each batch of acknowledgements is sent: the worker journal writes its `started`
   * lines there, so that a task acknowledged early is on disk before its message is gone (journal.ts).
   */
  readonly beforeAck?: () => void;
}

/**
 * How a `defer` ended: the broker has it; the delivery was lost meanwhile (or settled already); or the broker
 * refused and the request is held again.
 */
export type DeferOutcome =
  { readonly outcome: 'deferred' } | { readonly outcome: 'lost' | 'failed'; readonly error?: unknown };

export class Settlement implements Service {
  readonly name = 'settlement';
  private readonly acks: Batcher<Request>;
  /** Requests handed back to the broker until their ETA, until it confirms (a loss can still reach them). */
  private readonly deferring = new Set<Request>();
  /** Rate-limit credits held per task name. */
  private readonly rateHeld = new Map<string, number>();
  private credits = 0;
  private applyPrefetch: (prefetch: number) => void = () => undefined;

  constructor(private readonly options: SettlementOptions) {
    this.acks = new Batcher((requests) => {
      options.beforeAck?.();
      return options.broker.ack(requests.map((r) => r.delivery));
    });
  }

  async start(): Promise<void> {}

  /** Writes the pending acknowledgements. */
  async drain(): Promise<void> {
    await this.flush();
  }

  async stop(): Promise<void> {
    await this.flush();
  }

  /** Writes pending acknowledgements now (a failed batch was logged already). */
  flush(): Promise<void> {
    return this.acks.flush().catch(() => undefined);
  }

  /**
   * Acknowledges: the message is gone for good. Resolves once its batch is written: true, or false when it was
   * settled already or the write failed (logged).
   */
  ack(request: Request): Promise<boolean> {
    if (!this.settle(request, 'acked', 'ack')) return Promise.resolve(false);
    return this.acks.add(request).then(
      () => true,
      (error: unknown) => {
        this.options.logger.error(
          { err: error },
          `Could not acknowledge ${request.label}: ${(error as Error).message}`,
        );
        return false;
      },
    );
  }

  /** Rejects: back to the end of its queue with `requeue`, else to the dead letters with the reason. */
  async reject(request: Request, requeue: boolean, reason: string): Promise<void> {
    if (!this.settle(request, requeue ? 'requeued' : 'dead-lettered', requeue ? 'requeue' : 'dead-letter')) {
      return;
    }
    try {
      await this.options.broker.reject(request.delivery, { requeue, reason });
    } catch (error) {
      this.options.logger.error(
        { err: error },
        `Could not reject ${request.label}: ${(error as Error).message}`,
      );
    }
  }

  /** Gives requests that will not run here back to the broker, delivered next (shutdown). */
  async giveBack(requests: Iterable<Request>, what: string): Promise<void> {
    const deliveries: Delivery[] = [];
    for (const request of requests) {
      if (this.settle(request, 'given-back', 'give back')) deliveries.push(request.delivery);
    }
    if (deliveries.length === 0) return;
    try {
      await this.options.broker.requeue(deliveries);
    } catch (error) {
      this.options.logger.error({ err: error }, `Could not give back ${deliveries.length} ${what}`);
    }
  }

  /** Gives back deliveries that never became requests (they arrived before the worker was ready). */
  async giveBackDeliveries(deliveries: readonly Delivery[]): Promise<void> {
    try {
      await this.options.broker.requeue(deliveries);
    } catch (error) {
      this.options.logger.error(
        { err: error },
        `Could not give back ${deliveries.length} message(s) received before the worker was ready`,
      );
    }
  }

  /**
   * A message that never became a request (undecodable, unknown task, too large): rejected without requeue, to
   * the dead letters where the broker keeps them. There is no request to settle twice.
   */
  async rejectDelivery(delivery: Delivery, reason: string): Promise<void> {
    try {
      await this.options.broker.reject(delivery, { requeue: false, reason });
    } catch (error) {
      this.options.logger.error({ err: error }, `Could not reject a message: ${(error as Error).message}`);
    }
  }

  /** Whether an ETA this far away is handed back to the broker (`defer`) rather than held here. */
  defers(delayMs: number): boolean {
    const { deferral } = this.options.broker;
    return deferral !== null && delayMs > deferral.afterMs;
  }

  /**
   * Hands a far-future ETA request back to the broker, which delivers it again shortly before `eta`. If the
   * broker fails for another reason than a lost delivery, the request is `held` again and the caller keeps it.
   */
  async defer(request: Request, eta: number): Promise<DeferOutcome> {
    const { broker } = this.options;
    const { deferral } = broker;
    if (!deferral) return { outcome: 'failed', error: new Error(`${broker.url} cannot defer`) };
    if (!this.settle(request, 'deferring', 'defer')) return { outcome: 'lost' };
    this.deferring.add(request);
    try {
      await deferral.defer(request.delivery, eta);
      if (this.deferring.delete(request)) request.fate = 'deferred';
      return { outcome: 'deferred' };
    } catch (error) {
      if (!this.deferring.delete(request)) return { outcome: 'lost', error };
      // The one way back: the broker did not take it, so it is still this worker's to settle.
      request.fate = 'held';
      return { outcome: 'failed', error };
    }
  }

  /**
   * The broker lost this request's delivery and delivers it again: nothing may settle it any more. Its prefetch
   * credits are released. Returns false if it was settled already.
   */
  lost(request: Request): boolean {
    this.release(request);
    if (request.fate === 'deferring') this.deferring.delete(request);
    else if (request.fate !== 'held') return false;
    request.fate = 'lost';
    return true;
  }

  /** Requests being deferred whose deliveries the broker lost; each is marked lost. */
  loseDeferring(lost: ReadonlySet<Delivery>): number {
    let n = 0;
    for (const request of this.deferring) if (lost.has(request.delivery) && this.lost(request)) n++;
    return n;
  }

  /** Where prefetch changes go (the task consumer's broker consumer). */
  onPrefetchChange(apply: (prefetch: number) => void): void {
    this.applyPrefetch = apply;
  }

  /** One more message may be fetched while this request waits for its ETA. */
  holdForEta(request: Request): void {
    if (request.etaCredit) return;
    request.etaCredit = true;
    this.bump(1);
  }

  /** One more message may be fetched while this request waits for a token, up to `RATE_LIMIT_MAX_HELD` a task. */
  holdForRateLimit(request: Request): void {
    if (request.rateCredit) return;
    const held = this.rateHeld.get(request.name) ?? 0;
    if (held >= RATE_LIMIT_MAX_HELD) return;
    this.rateHeld.set(request.name, held + 1);
    request.rateCredit = true;
    this.bump(1);
  }

  /** The request got its token. */
  releaseRateLimit(request: Request): void {
    if (!request.rateCredit) return;
    request.rateCredit = false;
    this.rateHeld.set(request.name, (this.rateHeld.get(request.name) ?? 1) - 1);
    this.bump(-1);
  }

  /** The request left the worker (finished, discarded, lost): its credits are released. */
  release(request: Request): void {
    if (request.etaCredit) {
      request.etaCredit = false;
      this.bump(-1);
    }
    if (request.rateCredit) this.releaseRateLimit(request);
  }

  private bump(delta: number): void {
    const { state } = this.options;
    this.credits += delta;
    if (state.prefetch === 0) return;
    state.prefetchCount = state.prefetch + this.credits;
    this.applyPrefetch(state.prefetchCount);
  }

  /** Moves a held request to its fate; false (logged at debug) when it was settled already. */
  private settle(request: Request, fate: Fate, what: string): boolean {
    if (request.fate === 'held') {
      request.fate = fate;
      return true;
    }
    const { logger } = this.options;
    if (logger.isLevelEnabled('debug')) {
      logger.debug(`${what} of ${request.label} ignored: its delivery is already ${request.fate}`);
    }
    return false;
  }
}
