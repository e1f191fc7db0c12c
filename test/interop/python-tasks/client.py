"""Producer and reader for the task-semantics interop tests; prints one JSON line per command.

  client.py send NAME ARGS_JSON [--queue Q] [--expired] [--task-id ID]   -> {"id": ...}
  client.py wait ID TIMEOUT                                              -> the result as Python sees it
  client.py progress ID TIMEOUT                                          -> {"state": "PROGRESS", "info": {...}}
  client.py open-gate ID                                                 -> lets interop.progress finish
  client.py cleanup QUEUE...                                             -> deletes those queues and their bindings
"""
import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone

from celery.result import AsyncResult

from tasks_app import app


def send(args):
    options = {}
    if args.queue:
        options['queue'] = args.queue
    if args.expired:
        options['expires'] = datetime.now(timezone.utc) - timedelta(seconds=30)
    if args.task_id:
        options['task_id'] = args.task_id
    result = app.send_task(args.name, args=json.loads(args.args), **options)
    return {'id': result.id}


def describe_exception(exc):
    return {'type': type(exc).__name__, 'module': type(exc).__module__, 'args': [repr(a) for a in exc.args]}


def wait(args):
    result = AsyncResult(args.id, app=app)
    value = result.get(timeout=float(args.timeout), propagate=False, interval=0.05)
    out = {
        'state': result.state,
        'retries': result.retries,
        'name': result.name,
        'has_traceback': result.traceback is not None,
    }
    if isinstance(value, BaseException):
        out['exception'] = describe_exception(value)
    else:
        out['result'] = value
    return out


def progress(args):
    """Waits for the PROGRESS state: subscribed to the result's channel first, so no update slips in between."""
    result = AsyncResult(args.id, app=app)
    pubsub = app.backend.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(app.backend.get_key_for_task(args.id))
    try:
        deadline = time.monotonic() + float(args.timeout)
        while result.state != 'PROGRESS':
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {'state': result.state, 'error': 'no PROGRESS state before the timeout'}
            pubsub.get_message(timeout=remaining)
        return {'state': result.state, 'info': result.info, 'ready': result.ready()}
    finally:
        pubsub.close()


def open_gate(args):
    gate = 'interop-gate-' + args.id
    app.backend.client.pipeline().rpush(gate, '1').expire(gate, 300).execute()
    return {'opened': args.id}


def cleanup(args):
    """Removes what kombu left for the test's queues (lists, priority lists, binding sets) from the test's db."""
    client = app.backend.client
    deleted = 0
    for queue in args.queues:
        keys = [queue, '_kombu.binding.' + queue] + [queue + '\x06\x16' + str(p) for p in range(1, 10)]
        deleted += client.delete(*keys)
    return {'deleted': deleted}


def main(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('send')
    p.add_argument('name')
    p.add_argument('args')
    p.add_argument('--queue')
    p.add_argument('--expired', action='store_true')
    p.add_argument('--task-id')
    p.set_defaults(fn=send)
    p = sub.add_parser('wait')
    p.add_argument('id')
    p.add_argument('timeout')
    p.set_defaults(fn=wait)
    p = sub.add_parser('progress')
    p.add_argument('id')
    p.add_argument('timeout')
    p.set_defaults(fn=progress)
    p = sub.add_parser('open-gate')
    p.add_argument('id')
    p.set_defaults(fn=open_gate)
    p = sub.add_parser('cleanup')
    p.add_argument('queues', nargs='+')
    p.set_defaults(fn=cleanup)
    args = parser.parse_args(argv)
    print(json.dumps(args.fn(args)), flush=True)


if __name__ == '__main__':
    main(sys.argv[1:])
