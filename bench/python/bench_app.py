"""The Python Celery 5.2.6 side of the benchmark: an app with the same no-op tasks as bench/workers/celeriac-worker.ts.

Configured from the environment by bench/run.ts (one key prefix and queue per run, so runs never share keys):
  BENCH_BROKER         broker URL (redis://127.0.0.1:6379/15 or amqp://guest:guest@127.0.0.1:5672//)
  BENCH_BACKEND        result backend URL, or empty for none
  BENCH_PREFIX         kombu global_keyprefix for the Redis broker keys
  BENCH_QUEUE          the queue the tasks go to
  BENCH_IGNORE_RESULT  "1": task_ignore_result=True (scenario 3)
A worker prints BENCH-READY on stdout once it consumes (worker_ready), so the harness can start its clock.
"""
import os
import sys

from celery import Celery
from celery.signals import worker_ready

BROKER = os.environ.get('BENCH_BROKER', 'redis://127.0.0.1:6379/15')
BACKEND = os.environ.get('BENCH_BACKEND') or None
QUEUE = os.environ.get('BENCH_QUEUE', 'bench')

app = Celery('bench', broker=BROKER, backend=BACKEND)
app.conf.update(
    task_default_queue=QUEUE,
    broker_transport_options={'global_keyprefix': os.environ.get('BENCH_PREFIX', '')},
    task_ignore_result=os.environ.get('BENCH_IGNORE_RESULT') == '1',
    result_expires=600,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name='bench.noop')
def noop(i=0):
    return i


@app.task(name='bench.tsum')
def tsum(values):
    return sum(values)


@worker_ready.connect
def ready(**_kwargs):
    sys.stdout.write('BENCH-READY\n')
    sys.stdout.flush()
