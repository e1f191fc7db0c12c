"""The Celery 5.2.6 app and tasks used to capture golden fixtures (see capture.py).

Loaded both by capture.py (the client side) and by the real Python worker that capture.py starts with
``/usr/bin/python3 -m celery -A golden_app worker ...`` from this directory. Everything lives in Redis db 13
under queue names starting with ``golden-`` so that it never touches another user's keys.

Environment:
  GOLDEN_REDIS_URL        broker and result backend (default redis://127.0.0.1:6379/13)
  GOLDEN_RESULT_EXTENDED  "1" to run with result_extended=True
"""
import os

import redis
from celery import Celery
from kombu import Queue

REDIS_URL = os.environ.get('GOLDEN_REDIS_URL', 'redis://127.0.0.1:6379/13')
DEFAULT_QUEUE = 'golden-default'
WORKER_QUEUE = 'golden-worker'
# A queue no worker consumes: a retried message is parked here so capture.py can read it before the worker runs it.
PARKED_QUEUE = 'golden-parked'
SIGNAL_PREFIX = 'golden-signal:'

app = Celery('golden', broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_default_queue=DEFAULT_QUEUE,
    task_queues=[Queue(DEFAULT_QUEUE), Queue(WORKER_QUEUE)],
    result_extended=os.environ.get('GOLDEN_RESULT_EXTENDED') == '1',
    accept_content=['json', 'msgpack'],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


def wait_for_signal(task_id, timeout=30):
    """Blocks the task until capture.py has read the state it wants (a list push on a per-task key)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.blpop(SIGNAL_PREFIX + task_id, timeout=timeout)
    finally:
        client.close()


@app.task(name='golden.add')
def add(x, y):
    return x + y


@app.task(name='golden.mul')
def mul(x, y):
    return x * y


@app.task(name='golden.tsum')
def tsum(values):
    return sum(values)


@app.task(name='golden.echo')
def echo(*args, **kwargs):
    return [list(args), kwargs]


@app.task(name='golden.fail')
def fail(*args):
    raise ValueError('boom', 42)


@app.task(name='golden.retry_once', bind=True)
def retry_once(self, value):
    if self.request.retries == 0:
        # Park the retried message so capture.py can read the RETRY meta and the message the worker published.
        raise self.retry(exc=KeyError('nope'), countdown=0, queue=PARKED_QUEUE)
    return value


@app.task(name='golden.progress', bind=True)
def progress(self):
    self.update_state(state='PROGRESS', meta={'current': 1, 'total': 2})
    wait_for_signal(self.request.id)
    return 'done'


@app.task(name='golden.started', bind=True, track_started=True)
def started(self):
    wait_for_signal(self.request.id)
    return 'done'
