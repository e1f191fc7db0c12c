"""Runs a plan of Celery calls from stdin (JSON) and prints what happened (JSON), for the interop tests.

The plan: {"send": [{"ref", "task", "args", "kwargs", "options"}...], "get": [{"ref" | "id", "timeout"}...],
"read": [{"id"}...]}. Sends run first, in order; then each get waits for its result with AsyncResult.get();
each read reports the stored meta through AsyncResult without waiting. Options are apply_async keywords, plus
"eta_in" / "expires_in" (seconds from now, negative for the past) turned into aware datetimes.
"""
import json
import sys
from datetime import datetime, timedelta, timezone

from interop_app import app


def options_of(step):
    options = dict(step.get('options') or {})
    now = datetime.now(timezone.utc)
    if 'eta_in' in options:
        options['eta'] = now + timedelta(seconds=options.pop('eta_in'))
    if 'expires_in' in options:
        options['expires'] = now + timedelta(seconds=options.pop('expires_in'))
    return options


def outcome(result, timeout):
    try:
        value = result.get(timeout=timeout)
        out = {'ok': True, 'result': value}
    except Exception as exc:  # noqa: BLE001 - the test wants every failure as data
        out = {
            'ok': False,
            'type': type(exc).__name__,
            'module': type(exc).__module__,
            'message': str(exc),
            'exc_args': [a if isinstance(a, (str, int, float, bool, type(None))) else repr(a) for a in exc.args],
        }
    out.update(describe(result))
    return out


def describe(result):
    meta = result._get_task_meta()
    return {
        'id': result.id,
        'status': meta.get('status'),
        'name': meta.get('name'),
        'args': meta.get('args'),
        'kwargs': meta.get('kwargs'),
        'worker': meta.get('worker'),
        'queue': meta.get('queue'),
        'retries': meta.get('retries'),
        'date_done': str(meta.get('date_done')) if meta.get('date_done') else None,
    }


def main():
    plan = json.load(sys.stdin)
    sent = {}
    report = {'sent': {}, 'got': {}, 'read': {}}
    for step in plan.get('send', []):
        result = app.send_task(step['task'], args=step.get('args', []), kwargs=step.get('kwargs', {}),
                               **options_of(step))
        sent[step['ref']] = result
        report['sent'][step['ref']] = {'id': result.id}
    for step in plan.get('get', []):
        ref = step.get('ref') or step['id']
        result = sent.get(ref) or app.AsyncResult(step['id'])
        report['got'][ref] = outcome(result, step.get('timeout', 30))
    for step in plan.get('read', []):
        report['read'][step['id']] = describe(app.AsyncResult(step['id']))
    json.dump(report, sys.stdout)


if __name__ == '__main__':
    main()
