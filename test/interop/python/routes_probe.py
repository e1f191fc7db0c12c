"""What Python Celery 5.2.6 declares and publishes for given routing settings (test/interop/routing-defaults.test.ts).

Reads a JSON list of cases on stdin, each {"settings": {...snake_case...}, "calls": [{"queue", "exchange",
"routing_key"}]}, where task_queues is Celery's dict form ({name: {exchange, exchange_type, routing_key}}). Prints,
for each case, every call's published exchange and routing key and the queue declared for it (from the
before_task_publish signal), on an in-memory broker.
"""
import json
import sys

from celery import Celery
from celery.signals import before_task_publish


def name_of(exchange):
    return getattr(exchange, 'name', exchange)


def queue_info(queue):
    return {
        'name': queue.name,
        'exchange': queue.exchange.name,
        'exchangeType': queue.exchange.type,
        'routingKey': queue.routing_key,
    }


def probe(case):
    app = Celery('probe', broker='memory://')
    app.conf.update(case['settings'])
    seen = []

    def record(exchange=None, routing_key=None, declare=None, **_):
        seen.append({
            'exchange': name_of(exchange),
            'routingKey': routing_key,
            'declared': [queue_info(q) for q in declare or []],
        })

    before_task_publish.connect(record, weak=False)
    try:
        for call in case['calls']:
            app.send_task('probe.task', **{k: v for k, v in call.items() if v is not None})
    finally:
        before_task_publish.disconnect(record)
    return seen


print(json.dumps([probe(case) for case in json.load(sys.stdin)]))
