"""The Python side of the interop suite: a Celery 5.2.6 app whose tasks mirror test/interop/fixtures/interop-app.ts.

Configured from the environment, so every test file gets its own queues and key prefix:
  INTEROP_BROKER           broker and result backend URL (redis://127.0.0.1:6379/10)
  INTEROP_PREFIX           kombu global_keyprefix for the broker keys (the backend has none in Celery 5.2)
  INTEROP_QUEUE            default queue
  INTEROP_VT               visibility_timeout in seconds (default 3600)
  INTEROP_RESULT_EXTENDED  "1" for result_extended=True
  INTEROP_BACKEND          result backend URL (default: the broker's), e.g. db+postgresql://...
  INTEROP_RECORDER         Redis URL where tasks record their runs (default: the broker's URL)
  INTEROP_RECORD_PREFIX    key prefix for those records (default: INTEROP_PREFIX)
  INTEROP_BEAT_LABEL       for `celery beat`: an entry sending interop.mark(LABEL) every second
"""
import os
import time

import redis
from celery import Celery

BROKER = os.environ.get('INTEROP_BROKER', 'redis://127.0.0.1:6379/10')
PREFIX = os.environ.get('INTEROP_PREFIX', '')
RECORDER = redis.Redis.from_url(os.environ.get('INTEROP_RECORDER', BROKER))
RECORD_PREFIX = os.environ.get('INTEROP_RECORD_PREFIX', PREFIX)

app = Celery('interop', broker=BROKER, backend=os.environ.get('INTEROP_BACKEND', BROKER))
app.conf.update(
    task_default_queue=os.environ.get('INTEROP_QUEUE', 'celery'),
    broker_transport_options={
        'global_keyprefix': PREFIX,
        'visibility_timeout': float(os.environ.get('INTEROP_VT', '3600')),
    },
    result_extended=os.environ.get('INTEROP_RESULT_EXTENDED') == '1',
    result_expires=600,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=int(os.environ.get('INTEROP_PREFETCH', '1')),
)

if os.environ.get('INTEROP_BEAT_LABEL'):
    app.conf.beat_schedule = {
        'py-beat-mark': {'task': 'interop.mark', 'schedule': 1.0, 'args': (os.environ['INTEROP_BEAT_LABEL'],)},
    }


class KaboomError(Exception):
    """A custom exception: the TypeScript side sees its name and module."""


@app.task(name='interop.add')
def add(x, y):
    return x + y


@app.task(name='interop.echo')
def echo(*args, **kwargs):
    return [list(args), kwargs]


@app.task(name='interop.fail')
def fail(message):
    raise ValueError(message)


@app.task(name='interop.kaboom')
def kaboom(message):
    raise KaboomError(message)


@app.task(name='interop.stamp')
def stamp():
    return time.time()


@app.task(name='interop.mark')
def mark(label):
    """Appends `label` to the recorder's `order` list (execution order)."""
    RECORDER.rpush(RECORD_PREFIX + 'order', label)
    return label


@app.task(name='interop.tsum')
def tsum(numbers):
    """A chord body: the sum of the header's results."""
    return sum(numbers)


@app.task(name='interop.pydouble')
def pydouble(x):
    """Only the Python app has this task: a chain link that must run on a Python worker."""
    return x * 2


@app.task(name='interop.record', bind=True)
def record(self, i):
    """Counts runs per task id (outside the broker under test): exactly-once checks read these counters."""
    RECORDER.hincrby(RECORD_PREFIX + 'runs', self.request.id, 1)
    RECORDER.hincrby(RECORD_PREFIX + 'by', 'py', 1)
    return i
