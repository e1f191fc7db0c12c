"""The Celery 5.2.6 app of the AMQP interop tests: the same task names and behaviour as
test/interop/fixtures/amqp-app.ts, so either side can produce for the other's worker.

Environment:
  INTEROP_BROKER   amqp://... (a vhost of the test file's own)
  INTEROP_BACKEND  rpc:// or redis://...
  INTEROP_QUEUE    the queue tasks are sent to and consumed from
"""
import os
import time

from celery import Celery

app = Celery('interop', broker=os.environ['INTEROP_BROKER'], backend=os.environ.get('INTEROP_BACKEND', 'rpc://'))
app.conf.update(
    task_default_queue=os.environ.get('INTEROP_QUEUE', 'celery'),
    # Declared the same way by Celeriac (taskQueueMaxPriority: 10): x-max-priority 10 on the queue.
    task_queue_max_priority=10,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name='interop.add')
def add(x, y):
    return x + y


@app.task(name='interop.echo')
def echo(*args, **kwargs):
    return [list(args), kwargs]


@app.task(name='interop.fail')
def fail(message):
    raise ValueError(message)


@app.task(name='interop.when', bind=True)
def when(self):
    """When it ran (epoch seconds) and the eta and expires it was sent with (ISO strings or None)."""
    return {'ran': time.time(), 'eta': self.request.eta, 'expires': self.request.expires}


@app.task(name='interop.priority', bind=True)
def priority(self):
    return self.request.delivery_info.get('priority')


@app.task(name='interop.note')
def note(label):
    return label
