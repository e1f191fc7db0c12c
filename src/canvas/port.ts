/**
 * canvas/'s side of the port app/ defines in app/canvas-port.ts: the signature classes for `task.s()`,
 * `app.signature()` and their kin, and what runs next after an eager run. Loading this module installs it (src/index.ts
 * does), and its `declare module` block gives app/'s `SignatureOf` and `ChunksOf` the classes defined here.
 */
import { installCanvas, type CanvasPort } from '../app/canvas-port.js';
import { chunksSignature, mapSignature, type Chunks } from './chunks.js';
import { errbackSteps, runSteps, successSteps } from './next.js';
import { signature, Signature } from './signature.js';

declare module '../app/canvas-port.js' {
  interface CanvasTypes<A extends unknown[], R> {
    signature: Signature<A, R>;
    chunks: Chunks<R>;
  }
}

export const canvasPort: CanvasPort = {
  signature: (app, dict) => new Signature(app, dict),
  byName: (app, name, args, kwargs, options) => signature(name, args, kwargs, options, app),
  map: (app, kind, task, it) => mapSignature(app, kind, task, it),
  chunks: (app, task, it, n) => chunksSignature(app, task, it, n),
  afterSuccess: (app, request, value) => runSteps(app, successSteps(request, value)),
  afterFailure: async (app, request) => {
    await runSteps(app, errbackSteps(request));
  },
};

installCanvas(canvasPort);
