/**
 * A table of drivers by URL scheme, one per app: the app's own registrations (`app.registerBroker()`,
 * `app.registerBackend()`) over the defaults every app starts with (the built-in drivers, loaded lazily so that an
 * app on SQLite never loads ioredis or amqplib). Registering on one app never changes another.
 */
import { ImproperlyConfigured } from '../errors.js';

/** A driver's factory, loaded on first use. */
export type DriverLoader<F> = () => Promise<F>;

/** RFC 3986 scheme syntax: `redis`, `sqlite`, `my+driver`. */
const SCHEME = /^[a-z][a-z0-9+.-]*$/i;

export class DriverTable<F> {
  private readonly own = new Map<string, DriverLoader<F>>();

  constructor(
    /** What the table holds, for errors: `broker`, `result backend`. */
    private readonly kind: string,
    /** The defaults, read live, so that process-wide registrations reach apps created before them. */
    private readonly defaults: ReadonlyMap<string, DriverLoader<F>>,
  ) {}

  /** Adds or replaces this app's driver for a URL scheme. */
  register(method: string, scheme: string, factory: F): void {
    if (typeof scheme !== 'string' || !SCHEME.test(scheme)) {
      throw new ImproperlyConfigured(
        `${method}(${JSON.stringify(scheme)}): the first argument must be a URL scheme such as "redis" (letters, ` +
          'digits, "+", "-" and "."; without "://")',
      );
    }
    if (typeof factory !== 'function') {
      throw new ImproperlyConfigured(
        `${method}("${scheme}"): the second argument must be a function (url, context) returning the ${this.kind}`,
      );
    }
    this.own.set(scheme, async () => factory);
  }

  /** The driver for a scheme, or undefined. */
  find(scheme: string): DriverLoader<F> | undefined {
    return this.own.get(scheme) ?? this.defaults.get(scheme);
  }

  /** Every scheme this app knows, the defaults first. */
  schemes(): string[] {
    return [...new Set([...this.defaults.keys(), ...this.own.keys()])];
  }
}
