/**
 * Canvas messages compared with what Celery 5.2.6 sent for the same canvas (fixtures captured by capture.py):
 * the same headers, properties and body, once ids are replaced by their order of first appearance (Celery's are
 * random) and the sender's oid by a placeholder.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Celery } from '../../src/app/celery.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { chain, chord, group } from '../../src/index.js';
import { uuid, uuid3Oid } from '../../src/protocol/ids.js';
import { createTestApp } from '../../src/testing/index.js';
import type { JsonValue } from '../../src/types.js';
import { messageFixture } from './fixtures.js';

const GOLDEN_OID = uuid3Oid('celeriac-golden-client');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface View {
  headers: Record<string, JsonValue>;
  properties: Record<string, JsonValue>;
  body: JsonValue;
}

function celeryView(raw: string): View {
  const envelope = JSON.parse(raw) as Record<string, JsonValue>;
  const body = JSON.parse(Buffer.from(envelope.body as string, 'base64').toString('utf8')) as JsonValue;
  return {
    headers: envelope.headers as Record<string, JsonValue>,
    properties: envelope.properties as Record<string, JsonValue>,
    body,
  };
}

function ourView(wire: WireMessage): View {
  return { headers: wire.headers, properties: wire.properties, body: JSON.parse(wire.body.toString('utf8')) };
}

/** Replaces ids by `<id-N>` in order of first appearance (keys visited sorted) and the oid by `<oid>`. */
function normalizer(oid: string) {
  const ids = new Map<string, string>();
  const walk = (value: JsonValue): JsonValue => {
    if (typeof value === 'string') {
      if (value === oid) return '<oid>';
      if (!UUID.test(value)) return value;
      if (!ids.has(value)) ids.set(value, `<id-${ids.size}>`);
      return ids.get(value)!;
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') {
      const out: Record<string, JsonValue> = {};
      for (const key of Object.keys(value).sort()) out[key] = walk(value[key]!);
      return out;
    }
    return value;
  };
  return (view: View): JsonValue => {
    const { lang: _lang, origin: _origin, ...headers } = view.headers;
    // Intentional: tuples in Celery's repr of the kwargs (a signature's args, starmap items) are lists in ours.
    if (typeof headers.kwargsrepr === 'string')
      headers.kwargsrepr = headers.kwargsrepr.replace(/\(([^()]*)\)/g, '[$1]');
    const p = view.properties;
    const properties = {
      correlation_id: p.correlation_id!,
      reply_to: p.reply_to!,
      delivery_mode: p.delivery_mode!,
      priority: p.priority!,
    };
    return walk({ headers, properties, body: view.body });
  };
}

describe('canvas messages are the ones Celery 5.2.6 sends', () => {
  let app: Celery;
  let sent: WireMessage[];
  let sizes: [string, number][];

  async function setup(): Promise<void> {
    const ns = `canvas-golden-${uuid()}`;
    app = createTestApp({
      broker: `memory://${ns}`,
      backend: `memory://${ns}`,
      taskDefaultQueue: 'golden-default',
    });
    const broker = await app.getBroker();
    sent = [];
    sizes = [];
    broker.publish = async (message: WireMessage) => {
      sent.push(message);
    };
    const backend = await app.getBackend();
    const counter = backend.chordCounter!;
    const setSize = counter.setChordSize.bind(counter);
    counter.setChordSize = async (gid: string, size: number) => {
      // The size must be stored before the header is published.
      expect(sent).toHaveLength(0);
      sizes.push([gid, size]);
      await setSize(gid, size);
    };
  }

  afterEach(async () => {
    await app.close();
  });

  function tasks() {
    return {
      add: app.task('golden.add', (x: number, y: number) => x + y),
      mul: app.task('golden.mul', (x: number, y: number) => x * y),
      // Celery's captures chain tsum after tasks returning a number, so it takes anything here.
      tsum: app.task('golden.tsum', (_values: unknown) => 0),
      fail: app.task('golden.fail', (_message: string): number => {
        throw new Error('fail');
      }),
    };
  }

  function compare(fixtureName: string, order: (v: View) => string = () => ''): void {
    const fixture = messageFixture(fixtureName);
    const theirs = fixture.messages
      .map((m) => celeryView(m.raw))
      .sort((a, b) => order(a).localeCompare(order(b)));
    const ours = sent.map(ourView).sort((a, b) => order(a).localeCompare(order(b)));
    expect(ours).toHaveLength(theirs.length);
    const normalizeTheirs = normalizer(GOLDEN_OID);
    const normalizeOurs = normalizer(app.oid);
    expect(ours.map(normalizeOurs)).toEqual(theirs.map(normalizeTheirs));
    for (const [key, value] of Object.entries(fixture.keys ?? {})) {
      const gid = key.replace(/^celery-taskset-meta-/, '').replace(/\.s$/, '');
      expect(sizes).toHaveLength(1);
      expect(String(sizes[0]![1])).toBe(value.value);
      expect(gid).toMatch(UUID);
    }
  }

  const byArgs = (v: View): string => JSON.stringify(v.headers.argsrepr);

  it('chain(add.s(1, 2), mul.s(3), tsum.s())', async () => {
    await setup();
    const { add, mul, tsum } = tasks();
    await chain(add.s(1, 2), mul.s(3), tsum.s()).applyAsync();
    compare('chain');
  });

  it('group(add.s(1, 1), add.s(2, 2))', async () => {
    await setup();
    const { add } = tasks();
    await group(add.s(1, 1), add.s(2, 2)).applyAsync();
    compare('group', byArgs);
  });

  it('chord([add.s(1, 1), add.s(2, 2)], tsum.s())', async () => {
    await setup();
    const { add, tsum } = tasks();
    await chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync();
    compare('chord', byArgs);
  });

  it("chord([add.s(1, 1), add.s(2, 2)], tsum.s().onError(fail.si('e')))", async () => {
    await setup();
    const { add, tsum, fail } = tasks();
    await chord([add.s(1, 1), add.s(2, 2)], tsum.s().onError(fail.si('e'))).applyAsync();
    compare('chord-link-error', byArgs);
  });

  it('chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()): the group and tail become a chord', async () => {
    await setup();
    const { add, tsum } = tasks();
    await chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()).applyAsync();
    compare('chain-group-chord');
  });

  it('group(chain(add.s(1, 1), mul.s(2)), chain(add.s(2, 2), mul.s(3)))', async () => {
    await setup();
    const { add, mul } = tasks();
    await group(chain(add.s(1, 1), mul.s(2)), chain(add.s(2, 2), mul.s(3))).applyAsync();
    compare('group-of-chains', byArgs);
  });

  it('chain(add.s(1, 1), chord([add.s(1), add.s(2)], tsum.s()), mul.s(2))', async () => {
    await setup();
    const { add, mul, tsum } = tasks();
    await chain(add.s(1, 1), chord([add.s(1), add.s(2)], tsum.s()), mul.s(2)).applyAsync();
    compare('chain-chord-tail');
  });

  it('chord([chain(add.s(1, 1), mul.s(2)), add.s(3, 3)], tsum.s())', async () => {
    await setup();
    const { add, mul, tsum } = tasks();
    await chord([chain(add.s(1, 1), mul.s(2)), add.s(3, 3)], tsum.s()).applyAsync();
    compare('chord-header-chains', byArgs);
  });

  it("chain(add.s(1, 1), mul.s(2)).onError(fail.si('e'))", async () => {
    await setup();
    const { add, mul, fail } = tasks();
    await chain(add.s(1, 1), mul.s(2)).onError(fail.si('e')).applyAsync();
    compare('chain-link-error');
  });

  it('echo.map([1, 2]), add.starmap([[1, 2], [3, 4]]), add.chunks([[1, 1], [2, 2], [3, 3]], 2)', async () => {
    await setup();
    const { add } = tasks();
    const echo = app.task('golden.echo', (...args: unknown[]) => args);
    await echo.map([1, 2]).applyAsync();
    compare('map');
    sent.length = 0;
    await add
      .starmap([
        [1, 2],
        [3, 4],
      ])
      .applyAsync();
    compare('starmap');
    sent.length = 0;
    await add
      .chunks(
        [
          [1, 1],
          [2, 2],
          [3, 3],
        ],
        2,
      )
      .applyAsync();
    compare('chunks', byArgs);
  });
});
