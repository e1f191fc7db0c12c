"""Python side of the task-semantics interop tests (test/interop/tasks-*.test.ts).

The same task names as the Celeriac side, so that either language can produce, run or read them. Broker and
result backend come from CELERIAC_INTEROP_REDIS (a Redis URL whose db the tests own).
"""
import os

from celery import Celery

URL = os.environ.get('CELERIAC_INTEROP_REDIS', 'redis://127.0.0.1:6379/14')

app = Celery('interop_tasks', broker=URL, backend=URL)
app.conf.update(
    result_extended=True,
    accept_content=['json'],
    task_serializer='json',
    result_serializer='json',
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(bind=True, name='interop.retry_twice', max_retries=3)
def retry_twice(self, value):
    if self.request.retries < 2:
        raise self.retry(countdown=0, exc=KeyError('not yet'))
    return {'value': value, 'retries': self.request.retries}


@app.task(bind=True, name='interop.progress')
def progress(self, total):
    self.update_state(state='PROGRESS', meta={'current': 1, 'total': total})
    # Hold until the test opens the gate (client.py open-gate), so the state can be read while it runs.
    self.backend.client.blpop('interop-gate-' + self.request.id, timeout=30)
    return total


@app.task(name='interop.fail')
def fail(message):
    raise ValueError(message)


@app.task(name='interop.add')
def add(x, y):
    return x + y


@app.task(bind=True, name='interop.hop')
def hop(self, value):
    return 'python ran %s after %d retries' % (value, self.request.retries)
