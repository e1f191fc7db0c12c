/**
 * What only the rpc backend does: its reply queue declared as Celery's (so tools see the same thing), results for
 * tasks nobody waits for yet kept until asked for, results routed by the request's reply_to, and the message as
 * Celery's rpc backend sends it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lifecycle/logger.js';
import { uuid } from '../../protocol/ids.js';
import { States } from '../../types.js';
import { createVhost, rabbitmqctl, type Vhost } from '../../../test/support/rabbitmq.js';
import type { ResultBackend } from '../backend.js';
import { buildMeta } from '../meta.js';
import { createRpcBackend } from './rpc-backend.js';
import { encode as msgpackEncode } from '@msgpack/msgpack';
import { amqplib } from '../../transport/amqp/amqplib.js';
import { AcceptPolicy } from '../../protocol/serializers/index.js';

const run = promisify(execFile);
let vhost: Vhost;
const open: ResultBackend[] = [];

beforeAll(async () => {
  vhost = await createVhost('rpc-driver');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await vhost.remove();
});

async function backend(oid = uuid(), resultAccept?: AcceptPolicy): Promise<ResultBackend> {
  const b = createRpcBackend('rpc://', {
    logger: silentLogger(),
    resultExpires: 86_400,
    transportOptions: {},
    brokerUrl: vhost.url,
    oid,
    resultAccept,
  });
  await b.connect();
  open.push(b);
  return b;
}

const success = (taskId: string, result: unknown) =>
  buildMeta({ state: States.SUCCESS, result, request: { taskId } });

describe('rpc backend', () => {
  it('declares its reply queue exactly as Celery 5.2 declares its own', async () => {
    const ours = uuid();
    await (
      await backend(ours)
    ).onTaskCall!(uuid());
    // Celery's client declares its reply queue from RPCBackend.binding (celery/backends/rpc.py).
    const script =
      'import os\nfrom celery import Celery\n' +
      'app = Celery(broker=os.environ["AMQP_URL"], backend="rpc://")\n' +
      'with app.connection() as conn:\n' +
      '    app.backend.binding(conn.default_channel).declare()\n' +
      '    print(app.backend.oid)\n';
    const { stdout } = await run('/usr/bin/python3', ['-c', script], {
      env: { ...process.env, AMQP_URL: vhost.url },
    });
    const theirs = stdout.trim();
    const listing = await rabbitmqctl([
      'list_queues',
      '-p',
      vhost.name,
      '--no-table-headers',
      'name',
      'durable',
      'auto_delete',
      'exclusive',
      'arguments',
    ]);
    const row = (name: string): string =>
      listing
        .split('\n')
        .find((line) => line.startsWith(name))!
        .slice(name.length)
        .trim();
    expect(row(ours)).toBe(row(theirs));
    expect(row(ours)).toMatch(/false\s+true\s+false\s+\[\{"x-expires",86400000\}\]/);
  });

  it('keeps results for tasks nobody waits for yet, and routes each to its reply_to', async () => {
    const client = await backend();
    const other = await backend();
    const [a, b, c] = [uuid(), uuid(), uuid()];
    const clientOid = (client as unknown as { oid: string }).oid;
    await client.onTaskCall!(a);
    await other.onTaskCall!(c);
    // A worker (here, `other`) sends results where each request's reply_to says.
    await other.store(success(b, 'b first'), { replyTo: clientOid, correlationId: b });
    await other.store(success(a, 'a second'), { replyTo: clientOid, correlationId: a });
    await other.store(success(c, 'not for client'), { replyTo: (other as unknown as { oid: string }).oid });
    expect((await client.waitFor(a, { timeoutMs: 10_000 })).result).toBe('a second');
    expect((await client.get(b))?.result).toBe('b first');
    expect(await client.get(c)).toBeNull();
    expect((await other.get(c))?.result).toBe('not for client');
  });

  it('refuses a reply of a type resultAcceptContent does not list: the caller gets the refusal as a failure', async () => {
    const oid = uuid();
    const client = await backend(oid, new AcceptPolicy(['json'], undefined, 'resultAcceptContent'));
    const id = uuid();
    await client.onTaskCall!(id);
    // What a Python worker with result_serializer='msgpack' sends.
    const connection = await amqplib.connect(vhost.url);
    const channel = await connection.createConfirmChannel();
    channel.publish('', oid, Buffer.from(msgpackEncode({ task_id: id, status: 'SUCCESS', result: 5 })), {
      contentType: 'application/x-msgpack',
      contentEncoding: 'binary',
      correlationId: id,
    });
    await channel.waitForConfirms();
    await connection.close();
    const meta = await client.waitFor(id, { timeoutMs: 10_000 });
    expect(meta.status).toBe(States.FAILURE);
    expect(meta.result).toMatchObject({
      exc_type: 'ContentDisallowed',
      exc_message: [expect.stringMatching(/untrusted content of type msgpack .*accepted: json/)],
    });
  });

  it('sends nothing for a request without reply_to, as Celery', async () => {
    const client = await backend();
    const id = uuid();
    await client.store(success(id, 'nowhere'), { replyTo: null });
    expect(await client.get(id)).toBeNull();
  });
});
