#!/usr/bin/python3
"""Capture golden fixtures of messages SIGNED by the real Celery 5.2.6 (`auth` serializer) on Redis.

The fixture `fixtures/auth.signed.json` is committed data: test/golden/auth-golden.test.ts reads it and never
needs Redis or Python. Re-run this script only to refresh or extend it.

How to regenerate:
  1. Redis on 127.0.0.1:6379 (db 13 is used; override with GOLDEN_REDIS_URL=redis://host:port/db).
  2. The Debian Python with Celery 5.2.6, kombu 5.2.4, redis-py and python3-cryptography, and the openssl
     command. Use /usr/bin/python3, not a pyenv shim.
  3. From the repository root:  /usr/bin/python3 test/golden/capture_auth.py
  4. Review `git diff test/golden/fixtures` and run `npx vitest run test/golden`.

What it does:
  * Makes throw-away RSA keys and self-signed certificates with openssl in a temporary directory (valid for
    100 years, so the committed certificates do not expire under the tests; no private key is written to the
    fixtures). The first signer's issuer has a comma, a non-ASCII letter and a multi-valued RDN, so that
    Celery's certificate id (raw issuer values joined by spaces, then the decimal serial) is checked where RFC
    2253 escaping would differ; the second signer has a 4096-bit key (512-byte signatures).
  * For each signer, publishes `golden.add(2, 3)` with a fixed task id through a client app configured as the
    Celery Security guide says (task_serializer='auth', accept_content=['auth'], security_* settings,
    `app.setup_security()`), and records the exact Redis list element.
  * The 2048-bit case keeps drawing RSA-PSS signatures (random salts) until one contains the separator bytes
    `\\x00\\x01`, so the fixture proves the reader takes the signature by length, as Celery's `_unpack` does.

Volatile: the signatures (RSA-PSS is randomised), the certificates and serials (new keys on every run),
`delivery_tag` and the `origin` header.
"""
import json
import os
import subprocess
import sys
import tempfile

import celery  # noqa: E402
import kombu  # noqa: E402
import redis  # noqa: E402
from celery import Celery  # noqa: E402
from celery.security import key as security_key  # noqa: E402
from celery.security.certificate import Certificate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, 'fixtures')
REDIS_URL = os.environ.get('GOLDEN_REDIS_URL', 'redis://127.0.0.1:6379/13')
QUEUE = 'golden-auth'
ID = '22222222-2222-2222-2222-222222222222'
SEP = b'\x00\x01'

r = redis.Redis.from_url(REDIS_URL)


def openssl(*args, cwd):
    subprocess.run(['openssl', *args], cwd=cwd, check=True, capture_output=True)


def make_signer(directory, name, bits, subject):
    openssl('req', '-x509', '-newkey', f'rsa:{bits}', '-nodes', '-utf8', '-multivalue-rdn',
            '-keyout', f'{name}.key', '-out', f'{name}.pem', '-days', '36500', '-subj', subject, cwd=directory)
    return os.path.join(directory, f'{name}.key'), os.path.join(directory, f'{name}.pem')


def client_app(key, cert, store):
    app = Celery('golden_auth', broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer='auth',
        accept_content=['auth'],
        result_accept_content=['json'],
        security_key=key,
        security_certificate=cert,
        security_cert_store=store,
        security_digest='sha256',
    )
    app.setup_security()
    return app


def with_separator_in_signature():
    """Makes PrivateKey.sign draw signatures until one contains SEP (Celery's own signing, a chosen draw)."""
    real_sign = security_key.PrivateKey.sign

    def sign(self, data, digest):
        for _ in range(20000):
            signature = real_sign(self, data, digest)
            if SEP in signature:
                return signature
        raise RuntimeError('no signature with a separator in 20000 draws')

    security_key.PrivateKey.sign = sign
    return lambda: setattr(security_key.PrivateKey, 'sign', real_sign)


def capture(name, bits, subject, directory, separator):
    key, cert = make_signer(directory, name, bits, subject)
    app = client_app(key, cert, cert)
    restore = with_separator_in_signature() if separator else (lambda: None)
    try:
        r.delete(QUEUE)
        app.send_task('golden.add', (2, 3), task_id=ID)
        raw = r.lrange(QUEUE, 0, -1)
        r.delete(QUEUE)
    finally:
        restore()
    with open(cert, encoding='ascii') as fh:
        pem = fh.read()
    return {
        'name': name,
        'key_bits': bits,
        'subject': subject,
        'certificate': pem,
        'signer_id': Certificate(pem).get_id(),
        'signature_has_separator': separator,
        'messages': [{'key': QUEUE, 'raw': element.decode('utf-8')} for element in raw],
    }


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        cases = [
            capture('rsa2048', 2048, '/C=FR/O=Celeriac, Test/CN=signer é+OU=golden', directory, True),
            capture('rsa4096', 4096, '/CN=celeriac-golden-4096', directory, False),
        ]
    doc = {
        'kind': 'auth',
        'name': 'auth.signed',
        'description': "golden.add(2, 3) signed by Celery's auth serializer (SecureSerializer), sha256",
        'source': {'celery': celery.__version__, 'kombu': kombu.__version__, 'redis-py': redis.__version__,
                   'python': sys.version.split()[0]},
        'volatile': ['properties.delivery_tag', 'headers.origin', 'signature', 'certificate'],
        'task_id': ID,
        'body': [[2, 3], {}, {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}],
        'cases': cases,
    }
    path = os.path.join(FIXTURES, 'auth.signed.json')
    with open(path, 'w', encoding='utf-8') as fh:
        json.dump(doc, fh, indent=2, ensure_ascii=False)
        fh.write('\n')
    print('wrote', os.path.relpath(path, HERE))


if __name__ == '__main__':
    main()
