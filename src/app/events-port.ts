/**
 * The port through which app/ reaches events/, which sits above it (as app/canvas-port.ts for canvas/): `app.events`
 * (receivers) and the `task-sent` event a client publishes after a task (`taskSendSentEvent`). events/port.ts
 * implements it and installs it when loaded; src/index.ts and the worker load it. `EventsTypes` is empty here and
 * filled in by declaration merging, so `app.events` is typed as events/'s `AppEvents` without app/ importing it.
 */
import type { Broker, Route } from '../brokers/broker.js';
import { ImproperlyConfigured } from '../errors.js';
import type { WireMessage } from '../protocol/message.js';
import type { Celery } from './celery.js';

/** events/'s types: `api` is what `app.events` gives. Filled in by events/port.ts. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface EventsTypes {}

/** events/'s `AppEvents`. */
export type AppEventsOf = EventsTypes extends { api: infer T } ? T : never;

/** What app/ asks of events/. */
export interface EventsPort {
  /** `app.events`. */
  api(app: Celery): AppEventsOf;
  /** Publishes `task-sent` for a task message the app has just published; never throws. */
  taskSent(
    app: Celery,
    broker: Broker,
    wire: WireMessage,
    where: Route & { queue: string | null },
  ): Promise<void>;
}

let installed: EventsPort | undefined;

/** Called once by events/port.ts when it is loaded. */
export function installEvents(port: EventsPort): void {
  installed = port;
}

/** The installed events module, or an error saying how to load it. */
export function eventsPort(): EventsPort {
  if (!installed) {
    throw new ImproperlyConfigured(
      'app.events and task-sent events need the events module, which is not loaded: import Celeriac from its ' +
        "public entry point ('celeriac', src/index.ts), not from an internal file",
    );
  }
  return installed;
}
