#!/usr/bin/python3
"""Capture golden wire fixtures from the REAL Celery 5.2.6 / kombu 5.2.4 on Redis.

The fixtures in ./fixtures are committed data: the TypeScript tests (golden.test.ts) read them and never need
Redis or Python. Re-run this script only when you want to refresh or extend them.

How to regenerate:
  1. Redis on 127.0.0.1:6379 (db 13 is used; override with GOLDEN_REDIS_URL=redis://host:port/db).
  2. The Debian Python with Celery 5.2.6, kombu 5.2.4 and redis-py importable (the msgpack case also needs
     `apt-get install python3-msgpack`). Use /usr/bin/python3, not a pyenv shim.
  3. From the repository root:  /usr/bin/python3 test/golden/capture.py
     (or `... capture.py --only chain,map` to capture only those message cases)
  4. Review `git diff test/golden/fixtures` (volatile fields always change, see below) and run
     `npx vitest run test/golden`.

What it does:
  * Publishes task messages with a client app (no worker consumes the queue `golden-default` or the other
    message queues) and records the exact Redis list element (LRANGE) and the list key it was pushed to.
  * Starts a real worker (`python3 -m celery -A golden_app worker -P solo ...`) on queue `golden-worker`,
    runs tasks that succeed, fail, retry, report progress, expire, are unregistered and track STARTED, and
    records each `celery-task-meta-<id>` value. A second worker run uses result_extended=True.
  * Everything lives in Redis db 13 under `golden-*` queue names and fixed task ids; every key the script
    created is deleted at the end (keys that existed before it started are left alone).

Determinism: task ids are fixed; ids Celery generates itself (canvas sub-task ids, group ids) come from a
seeded generator patched over `uuid()` in celery.canvas / celery.app.base / celery.app.task, so they are the
same on every run; the client's `thread_oid` (the `reply_to` property) is fixed through `app._local.oid`.
Still volatile, and listed in each fixture's "volatile" field: kombu's `delivery_tag`, the `origin` header
(`gen<pid>@<host>`), eta/expires timestamps and the `expiration` property computed from the clock
(each fixture records the `app.now()` values Celery used, in "now"), result `date_done`, tracebacks (paths),
worker names and pids.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid as uuidlib
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import celery  # noqa: E402
import celery.app.base  # noqa: E402
import celery.app.task  # noqa: E402
import celery.canvas  # noqa: E402
import kombu  # noqa: E402
import redis  # noqa: E402
from celery import Celery, chain, chord, group  # noqa: E402

import golden_app  # noqa: E402
from golden_app import (  # noqa: E402
    DEFAULT_QUEUE, PARKED_QUEUE, REDIS_URL, SIGNAL_PREFIX, WORKER_QUEUE,
    add, app, echo, fail, mul, progress, retry_once, started, tsum,
)

FIXTURES = os.path.join(HERE, 'fixtures')
SEP = '\x06\x16'  # kombu/transport/redis.py Channel.sep
PRIORITY_STEPS = (0, 3, 6, 9)
ID = '11111111-1111-1111-1111-111111111111'
GOLDEN_OID = str(uuidlib.uuid3(uuidlib.NAMESPACE_OID, 'celeriac-golden-client'))

r = redis.Redis.from_url(REDIS_URL)


# ---------------------------------------------------------------------------------------------- determinism

class SeededIds:
    """uuid() replacement: UUID4-shaped ids from a generator reseeded per case."""

    def __init__(self):
        self.rng = random.Random(0)

    def reset(self, case):
        self.rng = random.Random(f'celeriac-golden-{case}')

    def __call__(self):
        return str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))


ids = SeededIds()
for module in (celery.canvas, celery.app.base, celery.app.task):
    module.uuid = ids

NOW_CALLS = []


def record_now(the_app):
    real_now = the_app.now

    def now():
        value = real_now()
        NOW_CALLS.append(value.isoformat())
        return value

    the_app.now = now


def fix_oid(the_app):
    the_app._local.oid = GOLDEN_OID


record_now(app)
fix_oid(app)

# A second client app that publishes protocol 1 messages (task_protocol=1).
app_v1 = Celery('golden_v1', broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
app_v1.conf.update(task_protocol=1, task_default_queue=DEFAULT_QUEUE)
add_v1 = app_v1.task(name='golden.add')(golden_app.add.run)
record_now(app_v1)
fix_oid(app_v1)


# ---------------------------------------------------------------------------------------------- redis helpers

def lists_for(queue):
    return [queue] + [f'{queue}{SEP}{p}' for p in PRIORITY_STEPS if p]


def drain(queue):
    r.delete(*lists_for(queue))


def read_queue(queue):
    """Every element of the queue's priority lists, oldest first (kombu LPUSHes)."""
    out = []
    for key in lists_for(queue):
        for raw in reversed(r.lrange(key, 0, -1)):
            out.append({'key': key, 'raw': raw.decode('utf-8')})
    return out


def wait_meta(task_id, states, timeout=30.0):
    key = f'celery-task-meta-{task_id}'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = r.get(key)
        if raw is not None and json.loads(raw)['status'] in states:
            return raw.decode('utf-8'), r.ttl(key)
        time.sleep(0.05)
    raise RuntimeError(f'{key} did not reach {states}; last value {r.get(key)!r}; see {WORKER_LOG}')


def jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def write(name, doc):
    path = os.path.join(FIXTURES, f'{name}.json')
    with open(path, 'w', encoding='utf-8') as fh:
        json.dump(doc, fh, indent=2, ensure_ascii=False)
        fh.write('\n')
    print('wrote', os.path.relpath(path, HERE))


SOURCE = {'celery': celery.__version__, 'kombu': kombu.__version__, 'redis-py': redis.__version__,
          'python': sys.version.split()[0]}
MESSAGE_VOLATILE = ['properties.delivery_tag', 'headers.origin']


# ---------------------------------------------------------------------------------------------- messages

MESSAGE_CASES = []


def message_case(name, description, call, volatile=(), queue=DEFAULT_QUEUE):
    """Registers a publishing case. `call` describes the inputs in JSON for the TypeScript re-encode; the
    publishing function may return the names of other keys it made Celery write (recorded under "keys")."""
    def register(fn):
        MESSAGE_CASES.append((name, description, call, list(volatile), queue, fn))
        return fn
    return register


@message_case('plain', 'add.apply_async((2, 3))', {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}})
def _plain():
    add.apply_async((2, 3), task_id=ID)


@message_case('kwargs-only', "add.apply_async(kwargs={'x': 2, 'y': 3})",
              {'task': 'golden.add', 'args': [], 'kwargs': {'x': 2, 'y': 3}})
def _kwargs_only():
    add.apply_async(kwargs={'x': 2, 'y': 3}, task_id=ID)


@message_case('args-kwargs', "echo.apply_async((1, 'a'), {'flag': True, 'none': None})",
              {'task': 'golden.echo', 'args': [1, 'a'], 'kwargs': {'flag': True, 'none': None}})
def _args_kwargs():
    echo.apply_async((1, 'a'), {'flag': True, 'none': None}, task_id=ID)


UNICODE_ARGS = ['héllo wörld ✓ 日本 🎉', {'nested': [1, 2.5, {'deep': [None, True, False]}], 'quote': 'it\'s "q"',
                                       'ctl': 'tab\tnl\nback\\slash'}, -7, 1e100, 3.0]
UNICODE_KWARGS = {'emoji': '💥', 'empty': [[], {}], 'ünï': 'cödé'}


@message_case('unicode-nested', 'echo.apply_async(<unicode, nested JSON, escapes, floats>)',
              {'task': 'golden.echo', 'args': UNICODE_ARGS, 'kwargs': UNICODE_KWARGS})
def _unicode():
    echo.apply_async(tuple(UNICODE_ARGS), UNICODE_KWARGS, task_id=ID)


@message_case('single-arg', 'echo.apply_async((1,))  # argsrepr "(1,)"',
              {'task': 'golden.echo', 'args': [1], 'kwargs': {}})
def _single_arg():
    echo.apply_async((1,), task_id=ID)


@message_case('countdown', 'add.apply_async((2, 3), countdown=10)',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'countdown': 10}, ['headers.eta'])
def _countdown():
    add.apply_async((2, 3), task_id=ID, countdown=10)


ETA = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


@message_case('eta', 'add.apply_async((2, 3), eta=datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=utc))',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'eta': ETA.isoformat()})
def _eta():
    add.apply_async((2, 3), task_id=ID, eta=ETA)


ETA_OFFSET = datetime(2030, 1, 2, 5, 4, 5, 0, tzinfo=timezone(timedelta(hours=2)))


@message_case('eta-offset', 'add.apply_async((2, 3), eta=<2030-01-02T05:04:05+02:00>)  # offset kept as given',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'eta': ETA_OFFSET.isoformat()})
def _eta_offset():
    add.apply_async((2, 3), task_id=ID, eta=ETA_OFFSET)


@message_case('expires-seconds', 'add.apply_async((2, 3), expires=60)',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'expires': 60}, ['headers.expires'])
def _expires_seconds():
    add.apply_async((2, 3), task_id=ID, expires=60)


@message_case('expires-datetime', 'add.apply_async((2, 3), expires=<now + 2 h, whole seconds>)',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'expires': '<see headers.expires>'},
              ['headers.expires', 'properties.expiration'])
def _expires_datetime():
    expires = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    add.apply_async((2, 3), task_id=ID, expires=expires)


for _priority in (0, 1, 3, 5, 6, 9, 12):
    @message_case(f'priority-{_priority}', f'add.apply_async((2, 3), priority={_priority})',
                  {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'priority': _priority})
    def _priority_case(p=_priority):
        add.apply_async((2, 3), task_id=ID, priority=p)


@message_case('queue', "add.apply_async((2, 3), queue='golden-custom')",
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'queue': 'golden-custom'},
              queue='golden-custom')
def _queue():
    add.apply_async((2, 3), task_id=ID, queue='golden-custom')


CUSTOM_HEADERS = {'x-custom': 'hdr', 'x-number': 7, 'x-nested': {'a': [1, None, True]}}


@message_case('headers', f'add.apply_async((2, 3), headers={CUSTOM_HEADERS!r})',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'headers': CUSTOM_HEADERS})
def _headers():
    add.apply_async((2, 3), task_id=ID, headers=CUSTOM_HEADERS)


@message_case('time-limits', 'add.apply_async((2, 3), time_limit=30, soft_time_limit=20)',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'time_limit': 30, 'soft_time_limit': 20})
def _time_limits():
    add.apply_async((2, 3), task_id=ID, time_limit=30, soft_time_limit=20)


@message_case('link', 'add.apply_async((2, 3), link=mul.s(10))',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'link': [dict(mul.s(10))]})
def _link():
    add.apply_async((2, 3), task_id=ID, link=mul.s(10))


@message_case('link-error', "add.apply_async((2, 3), link_error=fail.si('err'))",
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'link_error': [dict(fail.si('err'))]})
def _link_error():
    add.apply_async((2, 3), task_id=ID, link_error=fail.si('err'))


@message_case('link-many', "add.apply_async((2, 3), link=[mul.s(10), echo.s(k='v').set(queue='q2')], "
              "link_error=[fail.si('a'), fail.si('b')])",
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {},
               'link': [dict(mul.s(10)), dict(echo.s(k='v').set(queue='q2'))],
               'link_error': [dict(fail.si('a')), dict(fail.si('b'))]})
def _link_many():
    add.apply_async((2, 3), task_id=ID, link=[mul.s(10), echo.s(k='v').set(queue='q2')],
                    link_error=[fail.si('a'), fail.si('b')])


@message_case('shadow', "add.apply_async((2, 3), shadow='golden.shadowed')",
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'shadow': 'golden.shadowed'})
def _shadow():
    add.apply_async((2, 3), task_id=ID, shadow='golden.shadowed')


@message_case('ignore-result', 'add.apply_async((2, 3), ignore_result=True)',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'ignore_result': True})
def _ignore_result():
    add.apply_async((2, 3), task_id=ID, ignore_result=True)


@message_case('retries', 'add.apply_async((2, 3), retries=3)',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'retries': 3})
def _retries():
    add.apply_async((2, 3), task_id=ID, retries=3)


@message_case('root-parent', "add.apply_async((2, 3), root_id=<R>, parent_id=<P>, group_id=<G>, group_index=4)",
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {},
               'root_id': '22222222-2222-2222-2222-222222222222',
               'parent_id': '33333333-3333-3333-3333-333333333333',
               'group_id': '44444444-4444-4444-4444-444444444444', 'group_index': 4})
def _root_parent():
    add.apply_async((2, 3), task_id=ID, root_id='22222222-2222-2222-2222-222222222222',
                    parent_id='33333333-3333-3333-3333-333333333333',
                    group_id='44444444-4444-4444-4444-444444444444', group_index=4)


COMBINED_CALL = {'task': 'golden.add', 'args': [1, 2], 'kwargs': {}, 'countdown': 10, 'expires': 60, 'priority': 5,
                 'link': [dict(mul.s(10))], 'link_error': [dict(fail.si('err'))], 'headers': {'x-custom': 'hdr'},
                 'time_limit': 30, 'soft_time_limit': 20, 'queue': 'golden-combined'}


@message_case('combined', 'add.apply_async((1, 2), countdown=10, expires=60, priority=5, link=mul.s(10), '
              "link_error=fail.si('err'), headers={'x-custom': 'hdr'}, time_limit=30, soft_time_limit=20, "
              "queue='golden-combined')", COMBINED_CALL, ['headers.eta', 'headers.expires'], queue='golden-combined')
def _combined():
    add.apply_async((1, 2), task_id=ID, countdown=10, expires=60, priority=5, link=mul.s(10),
                    link_error=fail.si('err'), headers={'x-custom': 'hdr'}, time_limit=30, soft_time_limit=20,
                    queue='golden-combined')


@message_case('chain', 'chain(add.s(1, 2), mul.s(3), tsum.s()).apply_async()  # only the first task is sent',
              {'canvas': 'chain'})
def _chain():
    chain(add.s(1, 2), mul.s(3), tsum.s()).apply_async()


@message_case('group', 'group(add.s(1, 1), add.s(2, 2)).apply_async()', {'canvas': 'group'})
def _group():
    group(add.s(1, 1), add.s(2, 2)).apply_async()


@message_case('chord', 'chord([add.s(1, 1), add.s(2, 2)], tsum.s()).apply_async()  # Redis backend sets .s',
              {'canvas': 'chord'})
def _chord():
    res = chord([add.s(1, 1), add.s(2, 2)], tsum.s()).apply_async()
    return [f'celery-taskset-meta-{res.parent.id}.s']


@message_case('chord-link-error', "chord([add.s(1, 1), add.s(2, 2)], tsum.s().on_error(fail.si('e'))).apply_async()",
              {'canvas': 'chord'})
def _chord_link_error():
    res = chord([add.s(1, 1), add.s(2, 2)], tsum.s().on_error(fail.si('e'))).apply_async()
    return [f'celery-taskset-meta-{res.parent.id}.s']


@message_case('chain-group-chord', 'chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()).apply_async()  '
              '# the group + tail is upgraded to a chord', {'canvas': 'chain'})
def _chain_group_chord():
    chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()).apply_async()


@message_case('group-of-chains', 'group(chain(add.s(1, 1), mul.s(2)), chain(add.s(2, 2), mul.s(3))).apply_async()',
              {'canvas': 'group'})
def _group_of_chains():
    group(chain(add.s(1, 1), mul.s(2)), chain(add.s(2, 2), mul.s(3))).apply_async()


@message_case('chain-chord-tail', 'chain(add.s(1, 1), chord([add.s(1), add.s(2)], tsum.s()), mul.s(2)).apply_async()',
              {'canvas': 'chain'})
def _chain_chord_tail():
    chain(add.s(1, 1), chord([add.s(1), add.s(2)], tsum.s()), mul.s(2)).apply_async()


@message_case('chord-header-chains', 'chord([chain(add.s(1, 1), mul.s(2)), add.s(3, 3)], tsum.s()).apply_async()',
              {'canvas': 'chord'})
def _chord_header_chains():
    res = chord([chain(add.s(1, 1), mul.s(2)), add.s(3, 3)], tsum.s()).apply_async()
    return [f'celery-taskset-meta-{res.parent.id}.s']


@message_case('chain-link-error', "chain(add.s(1, 1), mul.s(2)).on_error(fail.si('e')).apply_async()",
              {'canvas': 'chain'})
def _chain_link_error():
    chain(add.s(1, 1), mul.s(2)).on_error(fail.si('e')).apply_async()


@message_case('map', 'add.map([1, 2]) / echo.map([1, 2]).apply_async()', {'canvas': 'map'})
def _map():
    echo.map([1, 2]).apply_async()


@message_case('starmap', 'add.starmap([(1, 2), (3, 4)]).apply_async()', {'canvas': 'map'})
def _starmap():
    add.starmap([(1, 2), (3, 4)]).apply_async()


@message_case('chunks', 'add.chunks([(1, 1), (2, 2), (3, 3)], 2).apply_async()', {'canvas': 'group'})
def _chunks():
    add.chunks([(1, 1), (2, 2), (3, 3)], 2).apply_async()


@message_case('protocol-1', 'add.apply_async((2, 3)) with task_protocol=1',
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'protocol': 1})
def _protocol_1():
    add_v1.apply_async((2, 3), task_id=ID)


@message_case('protocol-1-options', "add.apply_async((2,), {'y': 3}, countdown=10, expires=60, link=mul.s(10), "
              'time_limit=30, soft_time_limit=20, retries=2) with task_protocol=1',
              {'task': 'golden.add', 'args': [2], 'kwargs': {'y': 3}, 'countdown': 10, 'expires': 60,
               'link': [dict(mul.s(10))], 'time_limit': 30, 'soft_time_limit': 20, 'retries': 2, 'protocol': 1},
              ['headers.eta', 'headers.expires'])
def _protocol_1_options():
    add_v1.apply_async((2,), {'y': 3}, task_id=ID, countdown=10, expires=60, link=mul.s(10),
                       time_limit=30, soft_time_limit=20, retries=2)


@message_case('protocol-1-group', 'group(add.s(1, 1), add.s(2, 2)).apply_async() with task_protocol=1',
              {'canvas': 'group', 'protocol': 1})
def _protocol_1_group():
    group(add_v1.s(1, 1), add_v1.s(2, 2)).apply_async()


@message_case('msgpack', "echo.apply_async((2, 'é', [1.5, None]), {'k': 'v'}, serializer='msgpack')",
              {'task': 'golden.echo', 'args': [2, 'é', [1.5, None]], 'kwargs': {'k': 'v'}, 'serializer': 'msgpack'})
def _msgpack():
    echo.apply_async((2, 'é', [1.5, None]), {'k': 'v'}, task_id=ID, serializer='msgpack')


@message_case('zlib', "echo.apply_async(('x' * 64,), compression='zlib')",
              {'task': 'golden.echo', 'args': ['x' * 64], 'kwargs': {}, 'compression': 'zlib'})
def _zlib():
    echo.apply_async(('x' * 64,), task_id=ID, compression='zlib')


@message_case('msgpack-zlib', "add.apply_async((2, 3), serializer='msgpack', compression='zlib')",
              {'task': 'golden.add', 'args': [2, 3], 'kwargs': {}, 'serializer': 'msgpack', 'compression': 'zlib'})
def _msgpack_zlib():
    add.apply_async((2, 3), task_id=ID, serializer='msgpack', compression='zlib')


def string_keys(names):
    return {name: {'value': r.get(name).decode(), 'ttl': r.ttl(name)} for name in names}


def capture_messages():
    for name, description, call, volatile, queue, publish in MESSAGE_CASES:
        ids.reset(name)
        NOW_CALLS.clear()
        drain(queue)
        extra_keys = publish() or []
        messages = read_queue(queue)
        assert messages, f'{name}: nothing was pushed to {queue}'
        doc = {
            'kind': 'message',
            'name': name,
            'description': description,
            'source': SOURCE,
            'call': call,
            'now': list(NOW_CALLS),
            'volatile': MESSAGE_VOLATILE + volatile,
            'messages': messages,
        }
        if extra_keys:
            doc['keys'] = string_keys(extra_keys)
            r.delete(*extra_keys)
        write(f'message.{name}', doc)
        drain(queue)


# ---------------------------------------------------------------------------------------------- worker results

WORKER_LOG = '/tmp/celeriac-golden-worker.log'
RESULT_VOLATILE = ['date_done', 'traceback']


def start_worker(extended):
    env = dict(os.environ, GOLDEN_REDIS_URL=REDIS_URL, GOLDEN_RESULT_EXTENDED='1' if extended else '0',
               PYTHONPATH=HERE)
    log = open(WORKER_LOG, 'a')
    proc = subprocess.Popen(
        ['/usr/bin/python3', '-m', 'celery', '-A', 'golden_app', 'worker', '-P', 'solo', '-c', '1',
         '--without-gossip', '--without-mingle', '--without-heartbeat', '-Q', WORKER_QUEUE,
         '-n', 'golden@localhost', '--loglevel', 'INFO'],
        cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT)
    # The worker is ready once it has bound its queue; a probe task proves it consumes.
    probe = add.apply_async((0, 0), task_id='99999999-0000-0000-0000-00000000000' + ('1' if extended else '0'),
                            queue=WORKER_QUEUE)
    wait_meta(probe.id, {'SUCCESS'}, timeout=60)
    return proc


def stop_worker(proc):
    proc.send_signal(signal.SIGTERM)  # warm shutdown
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def result_fixture(name, description, task_id, raw, ttl, extended, volatile=(), extra=None):
    doc = {
        'kind': 'result',
        'name': name,
        'description': description,
        'source': SOURCE,
        'result_extended': extended,
        'task_id': task_id,
        'key': f'celery-task-meta-{task_id}',
        'ttl': ttl,
        'volatile': RESULT_VOLATILE + list(volatile),
        'raw': raw,
    }
    if extra:
        doc.update(extra)
    write(f'result.{name}', doc)


def rid(n):
    return f'aaaaaaaa-0000-4000-8000-{n:012d}'


def capture_results_plain():
    ids.reset('results')
    res = add.apply_async((2, 3), task_id=rid(1), queue=WORKER_QUEUE)
    result_fixture('success', 'add(2, 3) succeeded', res.id, *wait_meta(res.id, {'SUCCESS'}), False)

    res = fail.apply_async(task_id=rid(2), queue=WORKER_QUEUE)
    result_fixture('failure', "fail() raised ValueError('boom', 42)", res.id,
                   *wait_meta(res.id, {'FAILURE'}), False)

    res = retry_once.apply_async(('v',), task_id=rid(3), queue=WORKER_QUEUE)
    raw, ttl = wait_meta(res.id, {'RETRY'})
    parked = []
    deadline = time.monotonic() + 10
    while not parked and time.monotonic() < deadline:
        parked = read_queue(PARKED_QUEUE)
        time.sleep(0.05)
    assert parked, 'the retried message was not parked'
    result_fixture('retry', "retry_once('v') called self.retry(exc=KeyError('nope'))", res.id, raw, ttl, False)
    write('message.worker-retry', {
        'kind': 'message',
        'name': 'worker-retry',
        'description': "the message a worker publishes for self.retry(exc=KeyError('nope'), countdown=0, "
                       "queue='golden-parked') after retry_once.apply_async(('v',))",
        'source': SOURCE,
        'call': {'task': 'golden.retry_once', 'args': ['v'], 'kwargs': {}, 'retries': 1, 'worker': True},
        'now': [],
        'volatile': MESSAGE_VOLATILE,
        'messages': parked,
    })
    r.rpoplpush(PARKED_QUEUE, WORKER_QUEUE)
    raw, ttl = wait_meta(res.id, {'SUCCESS'})
    result_fixture('retry-success', 'retry_once succeeded on its second run', res.id, raw, ttl, False)

    res = progress.apply_async(task_id=rid(4), queue=WORKER_QUEUE)
    result_fixture('progress', "update_state(state='PROGRESS', meta={'current': 1, 'total': 2})", res.id,
                   *wait_meta(res.id, {'PROGRESS'}), False)
    r.rpush(SIGNAL_PREFIX + res.id, 'go')
    wait_meta(res.id, {'SUCCESS'})

    res = started.apply_async(task_id=rid(5), queue=WORKER_QUEUE)
    result_fixture('started', 'a track_started=True task while it runs', res.id,
                   *wait_meta(res.id, {'STARTED'}), False, ['result.pid', 'result.hostname'])
    r.rpush(SIGNAL_PREFIX + res.id, 'go')
    wait_meta(res.id, {'SUCCESS'})

    past = datetime.now(timezone.utc) - timedelta(seconds=30)
    res = add.apply_async((1, 1), task_id=rid(6), queue=WORKER_QUEUE, expires=past)
    result_fixture('revoked-expired', 'add(1, 1) with expires 30 s in the past', res.id,
                   *wait_meta(res.id, {'REVOKED'}), False)

    res = app.send_task('golden.nope', (1,), task_id=rid(7), queue=WORKER_QUEUE)
    result_fixture('not-registered', "send_task('golden.nope') to a worker that does not know it", res.id,
                   *wait_meta(res.id, {'FAILURE'}), False)

    chain(add.s(1, 2).set(task_id=rid(8), queue=WORKER_QUEUE),
          mul.s(3).set(task_id=rid(9), queue=WORKER_QUEUE)).apply_async()
    result_fixture('chain-parent', 'chain(add.s(1, 2), mul.s(3)): the first task, with children', rid(8),
                   *wait_meta(rid(8), {'SUCCESS'}), False)
    result_fixture('chain-child', 'chain(add.s(1, 2), mul.s(3)): the second task, with parent_id', rid(9),
                   *wait_meta(rid(9), {'SUCCESS'}), False)

    group(add.s(1, 1).set(task_id=rid(10)), add.s(2, 2).set(task_id=rid(11))).apply_async(queue=WORKER_QUEUE)
    result_fixture('group-member', 'group(add.s(1, 1), add.s(2, 2)): a member, with group_id', rid(10),
                   *wait_meta(rid(10), {'SUCCESS'}), False)
    wait_meta(rid(11), {'SUCCESS'})


def capture_results_extended():
    res = add.apply_async((2, 3), {}, task_id=rid(21), queue=WORKER_QUEUE)
    result_fixture('success-extended', 'add(2, 3) with result_extended=True', res.id,
                   *wait_meta(res.id, {'SUCCESS'}), True, ['worker'])
    res = fail.apply_async(('a',), task_id=rid(22), queue=WORKER_QUEUE)
    result_fixture('failure-extended', "fail('a') with result_extended=True", res.id,
                   *wait_meta(res.id, {'FAILURE'}), True, ['worker'])


def capture_group_save():
    gid = 'cccccccc-0000-4000-8000-000000000001'
    children = [app.AsyncResult(rid(31)), app.AsyncResult(rid(32))]
    app.GroupResult(gid, children).save()
    key = f'celery-taskset-meta-{gid}'
    write('result.group-save', {
        'kind': 'group',
        'name': 'group-save',
        'description': 'GroupResult(gid, [AsyncResult(a), AsyncResult(b)]).save()',
        'source': SOURCE,
        'group_id': gid,
        'children': [c.id for c in children],
        'key': key,
        'ttl': r.ttl(key),
        'volatile': [],
        'raw': r.get(key).decode(),
    })


# ---------------------------------------------------------------------------------------------- saferepr

SAFEREPR_CASES = [
    # (args as a tuple, maxlen) — argsrepr is saferepr(args, 1024) in celery/app/amqp.py as_task_v2.
    ([], 1024), ([1], 1024), ([2, 3], 1024), (['x'], 1024), ([None, True, False], 1024),
    (['it\'s', 'say "hi"', 'both \' and "'], 1024),
    (['tab\tnl\nback\\slash', '\x00\x1f\x7f'], 1024),
    (['héllo ✓ 日本 🎉'], 1024),
    ([1.5, 0.1, -0.0, 1e16, 1e100, 1.5e-7, 0.0001, 0.00001, 123456789.125, 1e15 + 0.5, -2.5e-10], 1024),
    ([[1, [2, [3, [4]]]], {'a': {'b': {'c': {'d': 1}}}}], 1024),
    ([[], {}, [[]], [{}]], 1024),
    ([{'k': 'v', 'n': [1, 2], 'd': {}}], 1024),
    (['a' * 10, [1, 2, [3, [4]]], {'k': 'v w x'}], 20),
    (['a b c d e f g h i j k l'], 10),
    ([{'k' * 30: 1}], 10),
    (['word ' * 300], 1024),
    ([list(range(400))], 1024),
    ([{'key%d' % i: 'value %d' % i for i in range(100)}], 1024),
    (['🎉' * 30], 20),
]
KWARGS_CASES = [
    ({}, 1024), ({'x': 2, 'y': 3}, 1024), ({'ünï': 'cödé', 'l': [[], {}], 'none': None}, 1024),
    ({'deep': {'a': {'b': [1]}}}, 1024), ({'long': 'x' * 2000}, 1024),
]


def capture_saferepr():
    from celery.utils.saferepr import saferepr
    write('saferepr', {
        'kind': 'saferepr',
        'name': 'saferepr',
        'description': 'celery.utils.saferepr.saferepr(value, maxlen) as used for argsrepr (args tuple) and '
                       'kwargsrepr (kwargs dict); protocol 1 workers use saferepr(list) with no maxlen',
        'source': SOURCE,
        'volatile': [],
        'args': [{'args': args, 'maxlen': maxlen, 'repr': saferepr(tuple(args), maxlen)}
                 for args, maxlen in SAFEREPR_CASES],
        'lists': [{'value': args, 'repr': saferepr(args)} for args, _ in SAFEREPR_CASES],
        'kwargs': [{'kwargs': kwargs, 'maxlen': maxlen, 'repr': saferepr(kwargs, maxlen)}
                   for kwargs, maxlen in KWARGS_CASES],
    })


# ---------------------------------------------------------------------------------------------- main

def our_keys():
    """Keys this script may have left behind from an earlier, interrupted run."""
    patterns = ['golden-*', 'celery-task-meta-aaaaaaaa-*', 'celery-task-meta-99999999-*',
                f'celery-task-meta-{ID}', 'celery-taskset-meta-cccccccc-*', '_kombu.binding.golden-*',
                SIGNAL_PREFIX + '*']
    return [k for p in patterns for k in r.keys(p)]


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    if len(sys.argv) > 2 and sys.argv[1] == '--only':
        # Captures only the named message cases (comma-separated), leaving every other fixture as it is.
        wanted = set(sys.argv[2].split(','))
        MESSAGE_CASES[:] = [case for case in MESSAGE_CASES if case[0] in wanted]
        before = set(r.keys('*'))
        try:
            capture_messages()
        finally:
            created = [k for k in r.keys('*') if k not in before]
            if created:
                r.delete(*created)
        return
    capture_saferepr()
    stale = our_keys()
    if stale:
        r.delete(*stale)
    before = set(r.keys('*'))
    open(WORKER_LOG, 'w').close()
    try:
        capture_messages()
        worker = start_worker(extended=False)
        try:
            capture_results_plain()
        finally:
            stop_worker(worker)
        worker = start_worker(extended=True)
        try:
            capture_results_extended()
        finally:
            stop_worker(worker)
        capture_group_save()
    finally:
        created = [k for k in r.keys('*') if k not in before]
        if created:
            r.delete(*created)
        print(f'deleted {len(created)} keys created by the capture')


if __name__ == '__main__':
    main()
