/**
 * The one place that loads amqplib. It first swaps amqplib's field-table decoder for ours (field-table.ts), which
 * also reads the `L` tag py-amqp writes for Python ints beyond 32 bits: amqplib 2.3 does not know it and closes
 * the connection, so one Python-produced header such as `{'ts': 1700000000000}` would drop every consumer on the
 * connection and come back on redelivery, forever. amqplib's generated `defs.js` copies `codec.decodeFields`
 * when it loads, so the swap must happen before amqplib itself is required.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Amqplib from 'amqplib';
import { decodeFieldTable } from './field-table.js';

const require = createRequire(import.meta.url);
const libDir = join(dirname(require.resolve('amqplib')), 'lib');
const defsPath = join(libDir, 'defs.js');

/** False when something loaded amqplib before this module, so the decoder could not be swapped in time. */
export const decoderInstalled = require.cache[defsPath] === undefined;

// Required by absolute path: the package's "exports" map hides lib/, but the module cache key is the same file.
const codec = require(join(libDir, 'codec.js')) as { decodeFields: (slice: Buffer) => unknown };
codec.decodeFields = decodeFieldTable;

export const amqplib = require('amqplib') as typeof Amqplib;
export type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
