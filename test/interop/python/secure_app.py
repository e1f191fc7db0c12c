"""A Celery 5.2.6 app that signs its messages (the `auth` serializer), for test/interop/signing-redis.test.ts.

Set up as Celery's Security guide says: task_serializer='auth', accept_content=['auth'], the security_* settings
and `app.setup_security()`. Results stay JSON (result_accept_content=['json']). Configured from the environment:
  SECURE_BROKER       broker and result backend URL
  SECURE_PREFIX       kombu global_keyprefix for the broker keys
  SECURE_QUEUE        default queue
  SECURE_KEY          PEM private key;   SECURE_CERT  its certificate;   SECURE_STORE  glob of trusted certificates
  SECURE_DIGEST       security_digest (default sha256), passed to setup_security() explicitly (see below)

Run as a script, it is a producer: `secure_app.py QUEUE TASK ARG...` sends TASK(*ARGS) (integers) to QUEUE, waits
for the result and prints {"id": ..., "result": ...} as JSON.
"""
import json
import os
import sys

from celery import Celery

BROKER = os.environ.get('SECURE_BROKER', 'redis://127.0.0.1:6379/10')

app = Celery('secure', broker=BROKER, backend=BROKER)
app.conf.update(
    task_default_queue=os.environ.get('SECURE_QUEUE', 'celery'),
    broker_transport_options={'global_keyprefix': os.environ.get('SECURE_PREFIX', '')},
    result_expires=600,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_serializer='auth',
    accept_content=['auth'],
    result_accept_content=['json'],
    security_key=os.environ['SECURE_KEY'],
    security_certificate=os.environ['SECURE_CERT'],
    security_cert_store=os.environ['SECURE_STORE'],
    security_digest=os.environ.get('SECURE_DIGEST', 'sha256'),
)
# Celery 5.2's app.setup_security() ignores security_digest: its own `digest` argument defaults to sha256 and
# wins. Passing the setting explicitly is the way to sign with another digest.
app.setup_security(digest=app.conf.security_digest)


@app.task(name='secure.add')
def add(x, y):
    return x + y


if __name__ == '__main__':
    queue, task, *args = sys.argv[1:]
    result = app.send_task(task, [int(a) for a in args], queue=queue)
    print(json.dumps({'id': result.id, 'result': result.get(timeout=30)}))
