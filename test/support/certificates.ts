/**
 * Throw-away keys and certificates made with openssl for the tests: a CA with a server certificate for TLS
 * (private redis-server and RabbitMQ listeners) and a client certificate, and self-signed RSA signers for message
 * signing (valid, expired, another key).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A throw-away CA and a server certificate for 127.0.0.1 signed by it, plus a client certificate. */
export interface TestCertificates {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  /** A client certificate and key signed by the same CA (mutual TLS). */
  clientCert: string;
  clientKey: string;
}

function caSigned(dir: string, name: string, subject: string, ext?: string): void {
  openssl(
    dir,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  );
  const extArgs: string[] = [];
  if (ext) {
    writeFileSync(join(dir, `${name}.cnf`), ext);
    extArgs.push('-extfile', `${name}.cnf`);
  }
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    ...extArgs,
  );
}

export function makeCertificates(dir: string): TestCertificates {
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=celeriac-test-ca',
  );
  caSigned(dir, 'server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  caSigned(dir, 'client', '/CN=celeriac-test-client');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}

/** A CA that signed nothing the servers use: verifying against it must fail. */
export function makeOtherCa(dir: string): string {
  mkdirSync(dir, { recursive: true });
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'other-ca.key',
    '-out',
    'other-ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=celeriac-other-ca',
  );
  return join(dir, 'other-ca.crt');
}

/** A message signer: an RSA key and its self-signed certificate, as Celery's Security guide makes them. */
export interface Signer {
  key: string;
  cert: string;
}

export function makeSigner(
  dir: string,
  name: string,
  options: { bits?: number; days?: number } = {},
): Signer {
  mkdirSync(dir, { recursive: true });
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    `rsa:${options.bits ?? 2048}`,
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    String(options.days ?? 2),
    '-subj',
    `/O=Celeriac tests/CN=${name}`,
  );
  return { key: join(dir, `${name}.key`), cert: join(dir, `${name}.pem`) };
}

/**
 * A signer whose certificate expired in 2020 (`openssl ca` with explicit dates; `req -x509` cannot back-date),
 * self-signed with its own key.
 */
export function makeExpiredSigner(dir: string, name: string): Signer {
  const work = join(dir, `${name}-ca`);
  mkdirSync(join(work, 'db'), { recursive: true });
  writeFileSync(join(work, 'db', 'index.txt'), '');
  writeFileSync(join(work, 'db', 'serial'), '1000\n');
  writeFileSync(
    join(work, 'ca.cnf'),
    [
      '[ ca ]',
      'default_ca = test',
      '[ test ]',
      'database = ./db/index.txt',
      'serial = ./db/serial',
      'new_certs_dir = ./db',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[ any ]',
      'commonName = supplied',
      'organizationName = optional',
      '',
    ].join('\n'),
  );
  openssl(
    work,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'signer.key',
    '-out',
    'signer.csr',
    '-subj',
    `/O=Celeriac tests/CN=${name}`,
  );
  openssl(
    work,
    'ca',
    '-batch',
    '-notext',
    '-selfsign',
    '-config',
    'ca.cnf',
    '-keyfile',
    'signer.key',
    '-in',
    'signer.csr',
    '-out',
    'signer.pem',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
  );
  return { key: join(work, 'signer.key'), cert: join(work, 'signer.pem') };
}
