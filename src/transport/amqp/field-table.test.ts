/**
 * Header tables byte for byte as py-amqp writes them (the real `amqp.serialization` of Celery 5.2.6's py-amqp),
 * and py-amqp's tables read back, including the `L` tag amqplib does not know.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../types.js';
import './amqplib.js';
import { decodeFieldTable, toFieldTable, toJsonTable, UNDECODABLE_HEADERS } from './field-table.js';

const require = createRequire(import.meta.url);
const codec = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as {
  encodeTable(buffer: Buffer, value: unknown, offset: number): number;
};

/** py-amqp's encoding of the JSON value (as Python reads it with json.loads), as a Buffer. */
function pyAmqpTable(table: Record<string, JsonValue>): Buffer {
  const script =
    'import json, sys\nfrom amqp.serialization import dumps\n' +
    'sys.stdout.write(dumps("F", [json.loads(sys.stdin.read())]).hex())';
  const hex = execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(table) }).toString();
  return Buffer.from(hex, 'hex');
}

function ourTable(table: Record<string, JsonValue>): Buffer {
  const buffer = Buffer.alloc(65536);
  const size = codec.encodeTable(buffer, toFieldTable(table), 0);
  return buffer.subarray(0, size);
}

// The header table of a Celery task message (reference §2.2.5), with every JSON type in it.
const headers: Record<string, JsonValue> = {
  lang: 'py',
  task: 'tasks.add',
  id: '11111111-1111-1111-1111-111111111111',
  shadow: null,
  eta: '2026-11-24T18:13:53.462291+00:00',
  expires: null,
  group: null,
  group_index: 3,
  retries: 0,
  timelimit: [30, 20.5],
  root_id: '11111111-1111-1111-1111-111111111111',
  parent_id: null,
  argsrepr: "(2, 'h\u00e9llo \u2603')",
  kwargsrepr: '{}',
  origin: 'gen6789@vm',
  ignore_result: false,
  'x-custom': { nested: [1, -1, 2147483647, -2147483647, true, null, 'x'], empty: {} },
};

/** What py-amqp reads from a table we encoded, as JSON. */
function readByPyAmqp(bytes: Buffer): unknown {
  const script =
    'import json, sys\nfrom amqp.serialization import loads\n' +
    'sys.stdout.write(json.dumps(loads("F", bytes.fromhex(sys.stdin.read()), 0)[0][0]))';
  return JSON.parse(
    execFileSync('/usr/bin/python3', ['-c', script], { input: bytes.toString('hex') }).toString(),
  );
}

describe('AMQP field tables', () => {
  it('encodes a Celery header table exactly as py-amqp does', () => {
    expect(ourTable(headers).toString('hex')).toBe(pyAmqpTable(headers).toString('hex'));
  });

  it('writes 64-bit integers that py-amqp reads back unchanged', () => {
    // amqplib cannot write py-amqp's `L`; it writes `l`, which py-amqp reads as unsigned: right for positive values.
    const table = { big: 2 ** 40, max: Number.MAX_SAFE_INTEGER, list: [2 ** 33] };
    expect(readByPyAmqp(ourTable(table))).toEqual(table);
  });

  it('reads py-amqp tables back to the same JSON, 64-bit integers (tag L) included', () => {
    const table = { ...headers, big: 2 ** 40, negative: -(2 ** 40), small: -5 };
    const bytes = pyAmqpTable(table);
    expect(bytes.includes(Buffer.from('L'))).toBe(true);
    const decoded = toJsonTable(decodeFieldTable(bytes.subarray(4)));
    expect(decoded).toEqual(table);
  });

  it('decodes an unreadable table to a marker instead of throwing', () => {
    const bytes = Buffer.concat([Buffer.from([3]), Buffer.from('key'), Buffer.from('Q')]);
    expect(decodeFieldTable(bytes)).toEqual({ [UNDECODABLE_HEADERS]: 'Unexpected type tag "Q"' });
    const truncated = pyAmqpTable({ s: 'a long string value' }).subarray(4, 12);
    expect(Object.keys(decodeFieldTable(truncated))).toEqual([UNDECODABLE_HEADERS]);
  });

  it('turns RabbitMQ timestamps and byte arrays into JSON values', () => {
    const table = toJsonTable({
      time: { '!': 'timestamp', value: 1_700_000_000 },
      bytes: Buffer.from('abc'),
      list: [{ '!': 'decimal', value: { places: 2, digits: 314 } }],
    });
    expect(table).toEqual({ time: 1_700_000_000, bytes: 'abc', list: [3.14] });
  });
});
