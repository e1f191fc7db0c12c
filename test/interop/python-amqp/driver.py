"""A long-lived Python Celery client for the interop tests: reads one JSON command per line on stdin, answers one
JSON line on stdout. Being one process, it owns one rpc reply queue (its oid), so it can read the results of the
tasks it sent.

  {"op": "send", "name": ..., "args": [...], "kwargs": {...}, "options": {countdown, expires, priority, ...}}
      -> {"id": ..., "sent": <epoch seconds>}
  {"op": "get", "id": ..., "timeout": 30}
      -> {"status", "result", "exc_type", "exc_message", "traceback"}   (or {"status": "TIMEOUT"})
  {"op": "state", "id": ...} -> {"status": ...}
"""
import json
import sys
import time

from celery.exceptions import TimeoutError as CeleryTimeoutError

from interop_app import app


def run(cmd):
    op = cmd['op']
    if op == 'ping':
        return {'ok': True}
    if op == 'send':
        result = app.send_task(cmd['name'], args=cmd.get('args', []), kwargs=cmd.get('kwargs', {}),
                               **cmd.get('options', {}))
        return {'id': result.id, 'sent': time.time()}
    if op == 'get':
        result = app.AsyncResult(cmd['id'])
        try:
            value = result.get(timeout=cmd.get('timeout', 30), propagate=False)
        except CeleryTimeoutError:
            return {'status': 'TIMEOUT'}
        failed = isinstance(value, BaseException)
        return {
            'status': result.status,
            'result': None if failed else value,
            'exc_type': type(value).__name__ if failed else None,
            'exc_message': str(value) if failed else None,
            'traceback': result.traceback,
        }
    if op == 'state':
        return {'status': app.AsyncResult(cmd['id']).state}
    raise ValueError('unknown op %r' % op)


for line in sys.stdin:
    try:
        answer = run(json.loads(line))
    except Exception as exc:  # reported to the test, which fails with it
        answer = {'error': repr(exc)}
    sys.stdout.write(json.dumps(answer) + '\n')
    sys.stdout.flush()
