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

/** A channel or connection of amqplib: what `closeAmqp` needs of it. */
interface Closable {
  close(): Promise<void>;
  once(event: 'close', listener: () => void): unknown;
  removeListener(event: 'close', listener: () => void): unknown;
}

/**
 * Closes an amqplib channel or connection; resolves once it is closed, however that happens, and never rejects.
 * amqplib's own `close()` settles only when the server's CloseOk arrives: if the connection dies in between (a
 * broker shutting down, `rabbitmqctl stop_app`), it never settles, though the object does emit 'close'. Awaited
 * alone, it would hang whoever waits (a consumer being cancelled, a worker's mingle, a shutdown) forever.
 */
export function closeAmqp(closable: Closable): Promise<void> {
  return new Promise<void>((resolve) => {
    const closed = (): void => resolve();
    closable.once('close', closed);
    closable.close().then(
      () => {
        closable.removeListener('close', closed);
        resolve();
      },
      () => {
        closable.removeListener('close', closed);
        resolve();
      },
    );
  });
}
