import { join } from 'node:path';
import { uuid } from '../../src/protocol/ids.js';
import { tempDir } from '../support/tmp.js';
import { canvasSuite } from './canvas-suite.js';

canvasSuite({
  name: 'memory',
  urls: () => {
    const ns = `canvas-${uuid()}`;
    return { broker: `memory://${ns}`, backend: `memory://${ns}` };
  },
});

const dir = tempDir('canvas-sqlite');
canvasSuite({
  name: 'sqlite',
  urls: () => {
    const file = join(dir.path, `${uuid()}.db`);
    return { broker: `sqlite://${file}`, backend: `sqlite://${file}` };
  },
  cleanup: () => dir.remove(),
});
