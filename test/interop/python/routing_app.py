"""The Python worker of test/interop/routing-defaults.test.ts: the default exchange settings from the environment.

  ROUTING_BROKER, ROUTING_BACKEND   broker and result backend URLs
  ROUTING_PREFIX                    kombu global_keyprefix (Redis brokers)
  ROUTING_QUEUE                     task_default_queue
  ROUTING_EXCHANGE, ROUTING_EXCHANGE_TYPE, ROUTING_KEY
                                    task_default_exchange, task_default_exchange_type, task_default_routing_key
"""
import os

from celery import Celery

app = Celery('routing', broker=os.environ['ROUTING_BROKER'], backend=os.environ['ROUTING_BACKEND'])
app.conf.update(
    task_default_queue=os.environ['ROUTING_QUEUE'],
    task_default_exchange=os.environ['ROUTING_EXCHANGE'],
    task_default_exchange_type=os.environ['ROUTING_EXCHANGE_TYPE'],
    task_default_routing_key=os.environ['ROUTING_KEY'],
    broker_transport_options={'global_keyprefix': os.environ.get('ROUTING_PREFIX', '')},
    result_expires=600,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name='routing.where', bind=True)
def where(self):
    """The exchange and routing key the message was published with, as the worker received it."""
    info = self.request.delivery_info or {}
    return {'exchange': info.get('exchange'), 'routing_key': info.get('routing_key')}
