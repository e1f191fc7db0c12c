/**
 * The one shape every long-lived component has, and the ordered list the worker starts them in
 * (stopped in reverse order, as asynq's server.go does).
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  /** Idempotent: stopping twice, or stopping a service that never started, is a no-op. */
  stop(): Promise<void>;
}

export class ServiceList {
  private readonly started: Service[] = [];

  constructor(private readonly services: readonly Service[]) {}

  async start(): Promise<void> {
    for (const service of this.services) {
      try {
        await service.start();
      } catch (error) {
        await this.stop();
        throw error;
      }
      this.started.push(service);
    }
  }

  /** Stops every started service in reverse order; the first error is re-thrown after all have stopped. */
  async stop(): Promise<void> {
    let first: unknown;
    while (this.started.length > 0) {
      const service = this.started.pop()!;
      try {
        await service.stop();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw first instanceof Error ? first : new Error(JSON.stringify(first));
  }
}
