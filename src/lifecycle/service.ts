/**
 * The one shape every long-lived component has, and the ordered list the worker starts them in (stopped in
 * reverse order, as asynq's server.go does).
 *
 * Shutdown has two speeds, as Celery's: a warm one drains (every service stops taking work and finishes what it
 * holds, last started first), then stops; a cold one stops at once and gives back what is unfinished. A warm
 * shutdown can turn cold while it drains (a second signal, a timeout): the drain under way is abandoned, the ones
 * not reached are skipped, and every service is stopped.
 */
import { deferred } from './async.js';

export interface Service {
  readonly name: string;
  start(): Promise<void>;
  /**
   * Warm: stop taking new work and resolve once the work in hand is finished. It may take as long as that work
   * does; a shutdown that turns cold stops waiting for it and calls `stop()`.
   */
  drain(): Promise<void>;
  /**
   * Cold: stop now, giving back whatever is unfinished. After `drain()` it only releases what is left. Idempotent:
   * stopping twice, or stopping a service that never started (or failed to), is a no-op.
   */
  stop(): Promise<void>;
}

export class ServiceList {
  /** Started (or starting) services, in start order. */
  private readonly started: Service[] = [];
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private stopRequested = false;
  private readonly cold = deferred();
  private isCold = false;

  constructor(readonly services: readonly Service[]) {}

  /** Starts every service in order. If one fails, the ones started are stopped (cold) and the error re-thrown. */
  start(): Promise<void> {
    this.starting ??= this.startAll();
    return this.starting;
  }

  /**
   * Warm by default: drains every started service in reverse order, then stops them in reverse order. `cold`
   * stops them at once. Calling it again returns the same promise; with `cold` it turns a warm stop cold.
   * The first error is re-thrown once every service has stopped.
   */
  stop(options: { cold?: boolean } = {}): Promise<void> {
    if (options.cold) this.turnCold();
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  /** Turns a warm stop (under way or to come) cold: the drain under way is abandoned, the rest skipped. */
  turnCold(): void {
    if (this.isCold) return;
    this.isCold = true;
    this.cold.resolve();
  }

  private async startAll(): Promise<void> {
    for (const service of this.services) {
      if (this.stopRequested) return;
      // Listed before it starts: a service whose start fails is stopped too (its stop copes with that).
      this.started.push(service);
      try {
        await service.start();
      } catch (error) {
        await this.stopServices().catch(() => undefined);
        throw error;
      }
    }
  }

  private async stopAll(): Promise<void> {
    this.stopRequested = true;
    // A start under way finishes the service it is starting first, so that nothing is left running unseen.
    await this.starting?.catch(() => undefined);
    let first: unknown;
    const services = [...this.started].reverse();
    for (const service of services) {
      if (this.isCold) break;
      const drained = service.drain().catch((error: unknown) => {
        first ??= error;
      });
      await Promise.race([drained, this.cold.promise]);
    }
    try {
      await this.stopServices();
    } catch (error) {
      first ??= error;
    }
    if (first !== undefined) throw asError(first);
  }

  /** Stops every started service in reverse order; the first error is re-thrown after all have stopped. */
  private async stopServices(): Promise<void> {
    let first: unknown;
    while (this.started.length > 0) {
      const service = this.started.pop()!;
      try {
        await service.stop();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw asError(first);
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(JSON.stringify(value));
}
