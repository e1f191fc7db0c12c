/** control/'s side of the port app/ defines in app/control-port.ts: `app.control` is a `Control` client. */
import { installControl, type ControlPort } from '../app/control-port.js';
import { Control } from './client.js';

declare module '../app/control-port.js' {
  interface ControlTypes {
    control: Control;
  }
}

export const controlPort: ControlPort = {
  client: (app) => new Control(app),
};

installControl(controlPort);
