/**
 * The port through which app/ reaches control/, which sits above it (control/ imports app/, never the reverse):
 * `app.control` (the remote-control client) and the revokes of `AsyncResult.revoke()` and `GroupResult.revoke()`.
 * control/port.ts implements it and installs it when it is loaded; src/index.ts loads it. The client's type travels
 * by declaration merging (`ControlTypes`), as the canvas port's types do.
 */
import { ImproperlyConfigured } from '../errors.js';
import type { Celery } from './celery.js';

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ControlTypes {}

/** control's `Control` client, once control/port.ts is loaded. */
export type ControlOf = ControlTypes extends { control: infer C } ? C : ControlPortClient;

/** What app/ needs of the client itself. */
export interface ControlPortClient {
  revoke(ids: readonly string[], options: { terminate?: boolean; signal?: string }): Promise<unknown>;
}

export interface ControlPort {
  /** A new client for the app. */
  client(app: Celery): ControlOf & ControlPortClient;
}

let installed: ControlPort | undefined;

/** Called once by control/port.ts when it is loaded. */
export function installControl(port: ControlPort): void {
  installed = port;
}

/** The installed control module, or an error saying how to load it. */
export function control(): ControlPort {
  if (!installed) {
    throw new ImproperlyConfigured(
      'app.control needs the control module, which is not loaded: import Celeriac from its public entry point ' +
        "('celeriac', src/index.ts), not from an internal file",
    );
  }
  return installed;
}
