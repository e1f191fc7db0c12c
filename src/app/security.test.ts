import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeExpiredSigner, makeSigner, type Signer } from '../../test/support/certificates.js';
import { capturingLogger } from '../../test/semantics/harness.js';
import { tempDir } from '../../test/support/tmp.js';
import { ContentDisallowed } from '../errors.js';
import { Celery } from './celery.js';
import { compileConfig, type CeleryOptions } from './config.js';
import { certStoreFiles } from './security.js';
import { compileTlsSetting } from './tls.js';

const dir = tempDir('security-setup');
let alice: Signer;
let bob: Signer;
let expired: Signer;
const store = join(dir.path, 'store');

beforeAll(() => {
  alice = makeSigner(join(dir.path, 'alice'), 'alice');
  bob = makeSigner(join(dir.path, 'bob'), 'bob');
  expired = makeExpiredSigner(dir.path, 'expired');
  mkdirSync(store);
  copyFileSync(alice.cert, join(store, 'alice.pem'));
  copyFileSync(bob.cert, join(store, 'bob.pem'));
  copyFileSync(expired.cert, join(store, 'expired.pem'));
});
afterAll(() => dir.remove());

function signed(extra: CeleryOptions = {}): Celery {
  return new Celery('secure', {
    broker: 'memory://security-setup',
    taskSerializer: 'auth',
    acceptContent: ['auth'],
    securityKey: alice.key,
    securityCertificate: alice.cert,
    securityCertStore: join(store, '*.pem'),
    ...extra,
  });
}

describe('app.setupSecurity()', () => {
  it("takes Celery's snake_case settings and signs eager round trips", async () => {
    const app = new Celery('snake').configFromObject({
      broker_url: 'memory://security-snake',
      task_serializer: 'auth',
      accept_content: ['auth'],
      security_key: alice.key,
      security_certificate: alice.cert,
      security_cert_store: join(store, '*.pem'),
      security_digest: 'sha512',
      task_always_eager: true,
    });
    app.setupSecurity();
    expect(app.signing).toBe(true);
    const add = app.task('add', (x: number, y: number) => x + y);
    // Eager applyAsync encodes and decodes the message, so this signs and verifies it.
    expect(await (await add.applyAsync([2, 3])).get()).toBe(5);
  });

  it('requires auth as the task serializer and the only accepted content, as Celery', () => {
    expect(() => signed({ acceptContent: ['auth', 'json'] }).setupSecurity()).toThrow(
      /taskSerializer: 'auth' and acceptContent: \['auth'\].*there is no point in signing what is not verified/,
    );
    expect(() => signed({ taskSerializer: 'json', acceptContent: ['json'] }).setupSecurity()).toThrow(
      /got "json"/,
    );
  });

  it('names the missing key, certificate or store', () => {
    expect(() => signed({ securityKey: null }).setupSecurity()).toThrow(
      /needs securityKey, securityCertificate and securityCertStore/,
    );
    expect(() => signed({ securityKey: join(dir.path, 'nope.key') }).setupSecurity()).toThrow(
      /securityKey: cannot read .*nope\.key/,
    );
  });

  it("refuses a certificate that is not the key's own", () => {
    expect(() => signed({ securityCertificate: bob.cert }).setupSecurity()).toThrow(
      /is not the certificate of securityKey/,
    );
  });

  it('refuses a store that matches nothing, and wildcards outside the file name', () => {
    expect(() => signed({ securityCertStore: join(store, '*.crt') }).setupSecurity()).toThrow(
      /matches no certificate/,
    );
    expect(() => certStoreFiles(join(dir.path, '*', '*.pem'))).toThrow(
      /only the file name may hold wildcards/,
    );
    expect(certStoreFiles(store).map((p) => p.slice(store.length + 1))).toEqual([
      'alice.pem',
      'bob.pem',
      'expired.pem',
    ]);
  });

  it('warns about an expired certificate in the store, and about its own certificate missing from it', () => {
    const log = capturingLogger();
    const app = signed({ securityCertStore: join(store, 'e*.pem') });
    app.logger = log.logger;
    app.setupSecurity();
    const lines = log.lines.map((l) => l.msg).join('\n');
    expect(lines).toMatch(/expired\.pem .* expired on 2020-01-02.*messages signed with it are refused/);
    expect(lines).toMatch(/is not in securityCertStore: workers of this app refuse what it signs itself/);
  });

  it('refuses weak digests and a bad strict window', () => {
    expect(() => signed({ securityDigest: 'md5' }).conf).toThrow(/securityDigest "md5" is too weak/);
    expect(() => signed().setupSecurity({ strict: { window: -1 } })).toThrow(
      /window must be a positive number/,
    );
  });

  it('says what to do when auth is used without setupSecurity()', async () => {
    const app = signed();
    await expect(app.sendTask('x')).rejects.toThrow(
      /Serializer "auth" is not set up: call app.setupSecurity\(\)/,
    );
  });
});

describe('resultAcceptContent', () => {
  it('falls back to acceptContent, and refuses to read JSON-stored results when json is not on it', async () => {
    expect(
      compileConfig({ broker: 'memory://', backend: 'memory://' }, {}).resultAccept.accepts('json'),
    ).toBe(true);
    const dirBackend = `sqlite://${join(dir.path, 'results.db')}`;
    for (const [backend, extra, setting] of [
      [
        'memory://security-results',
        { acceptContent: ['msgpack'], taskSerializer: 'msgpack' },
        'resultAcceptContent \\(taken from acceptContent\\)',
      ],
      [dirBackend, { resultAcceptContent: ['msgpack'] }, 'resultAcceptContent'],
    ] as const) {
      const app = new Celery('results', { broker: 'memory://security-results', backend, ...extra });
      const results = await app.getBackend();
      const id = `refused-${backend.length}`;
      // Storing is unaffected: a worker writes results it never reads.
      await results.store({
        status: 'SUCCESS',
        result: 1,
        traceback: null,
        children: [],
        date_done: null,
        task_id: id,
      });
      await expect(app.AsyncResult(id).get({ timeout: 1 })).rejects.toThrow(
        new RegExp(`stores them as json: ${setting} is \\["msgpack"\\]; add 'json' to resultAcceptContent`),
      );
      await expect(app.AsyncResult(id).meta()).rejects.toThrow(ContentDisallowed);
      await results.chordCounter!.setChordSize(id, 1);
      await expect(results.chordCounter!.chordParts(id)).rejects.toThrow(ContentDisallowed);
      await app.close();
    }
    // rpc:// results travel with their content type, checked per message.
    const rpc = compileConfig(
      { broker: 'amqp://x', backend: 'rpc://', resultAcceptContent: ['msgpack'] },
      {},
    );
    expect(rpc.resultAccept.accepts('application/x-msgpack')).toBe(true);
    expect(rpc.resultAccept.accepts('json')).toBe(false);
    expect(() => compileConfig({ broker: 'memory://', resultAcceptContent: ['pickle'] }, {})).toThrow(
      /resultAcceptContent lists "pickle", which Celeriac cannot decode/,
    );
  });
});

describe('brokerUseSsl and redisBackendUseSsl', () => {
  it("accept Node's and Celery's keys", () => {
    expect(compileTlsSetting('brokerUseSsl', true)).toEqual({ rejectUnauthorized: true });
    expect(
      compileTlsSetting('brokerUseSsl', {
        ssl_ca_certs: '/ca.pem',
        ssl_cert_reqs: 'CERT_NONE',
        keyfile: '/k',
      }),
    ).toEqual({ ca: '/ca.pem', key: '/k', rejectUnauthorized: false });
    expect(compileTlsSetting('brokerUseSsl', { ca: '/ca.pem', cert_reqs: 2 })).toEqual({
      ca: '/ca.pem',
      rejectUnauthorized: true,
    });
    expect(compileTlsSetting('brokerUseSsl', { rejectUnauthorized: false })?.rejectUnauthorized).toBe(false);
  });

  it('name what is wrong', () => {
    expect(() => compileTlsSetting('brokerUseSsl', 'yes')).toThrow(/brokerUseSsl must be true or an object/);
    expect(() => compileTlsSetting('brokerUseSsl', { ssl_cert_reqs: 'maybe' })).toThrow(
      /brokerUseSsl.ssl_cert_reqs must be "required", "optional" or "none"/,
    );
    expect(() => compileTlsSetting('redisBackendUseSsl', { cafile: '/x' })).toThrow(
      /redisBackendUseSsl has an unknown key "cafile"/,
    );
    expect(() => compileConfig({ broker: 'sqlite:///tmp/x.db', brokerUseSsl: true }, {})).toThrow(
      /brokerUseSsl is set but the broker \(sqlite:\/\/\) has no network connection/,
    );
    expect(() =>
      compileConfig({ broker: 'memory://', backend: 'sqlite:///tmp/x.db', redisBackendUseSsl: true }, {}),
    ).toThrow(/redisBackendUseSsl is set but the result backend is sqlite:\/\//);
    expect(() => new Celery('t', { broker: 'memory://', brokerUseSsl: 'yes' as unknown as boolean })).toThrow(
      /brokerUseSsl must be true or an object/,
    );
  });
});
