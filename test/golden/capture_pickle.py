#!/usr/bin/python3
"""Capture golden pickles from Python's own `pickle` module for the TypeScript pickle codec (src/protocol/pickle/).

Writes test/golden/fixtures/pickle.json: for each case, the value as tagged JSON (what the TypeScript reader must
return), the pickle Python writes with each protocol 0 to 5 (hex), whether that pickle holds an opcode Celeriac
refuses (a global or a reduce call: Python writes bytes and sets that way before protocols 3 and 4), and whether
the protocol 4 pickle is canonical (no memo GET, so Celeriac's writer must produce it byte for byte).

Run from the repository root with the Debian Python (no third-party module needed):
    /usr/bin/python3 test/golden/capture_pickle.py
Tagged JSON: {"$bytes": hex}, {"$int": decimal} for ints beyond 2**53, {"$float": "inf"|"-inf"} for infinities,
{"$tuple": [...]} and {"$set": [...]} for what the writer must write as a tuple or a set (the reader returns arrays).
"""
import datetime
import hashlib
import decimal
import json
import pickle
import pickletools
import sys
from collections import OrderedDict

REFUSED = {'GLOBAL', 'STACK_GLOBAL', 'REDUCE', 'BUILD', 'INST', 'OBJ', 'NEWOBJ', 'NEWOBJ_EX', 'PERSID',
           'BINPERSID', 'EXT1', 'EXT2', 'EXT4'}
GETS = {'GET', 'BINGET', 'LONG_BINGET'}


def tag(value, write):
    """The tagged JSON of a value: `write` keeps tuples and sets apart (writer input), else the reader's view."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2 ** 53 - 1 else {'$int': str(value)}
    if isinstance(value, float):
        if value in (float('inf'), float('-inf')):
            return {'$float': 'inf' if value > 0 else '-inf'}
        return value
    if isinstance(value, (bytes, bytearray)):
        return {'$bytes': bytes(value).hex()}
    if isinstance(value, tuple):
        items = [tag(v, write) for v in value]
        return {'$tuple': items} if write else items
    if isinstance(value, (set, frozenset)):
        items = [tag(v, write) for v in value]
        return {'$set': items} if write else items
    if isinstance(value, list):
        return [tag(v, write) for v in value]
    if isinstance(value, dict):
        return {json.dumps(k) if not isinstance(k, str) else k: tag(v, write) for k, v in value.items()}
    raise TypeError(type(value))


def opcodes(data):
    return {op.name for op, _arg, _pos in pickletools.genops(data)}


def cases():
    x = [1]
    shared = [x, x]
    return [
        ('none', None), ('true', True), ('false', False),
        ('int-0', 0), ('int-5', 5), ('int-255', 255), ('int-256', 256), ('int-65535', 65535),
        ('int-65536', 65536), ('int-neg1', -1), ('int-neg256', -256), ('int-max32', 2 ** 31 - 1),
        ('int-min32', -2 ** 31), ('int-2pow31', 2 ** 31), ('int-neg-2pow31-1', -2 ** 31 - 1),
        ('int-maxsafe', 2 ** 53 - 1), ('int-2pow53', 2 ** 53), ('int-2pow64', 2 ** 64), ('int-neg2pow64', -2 ** 64),
        ('int-neg128', -128), ('int-neg129', -129), ('int-neg2pow63', -2 ** 63),
        ('int-10pow100', 10 ** 100), ('int-long4', 2 ** 2100 + 7), ('int-neg-long4', -(2 ** 2100)),
        ('float-half', 0.5), ('float-neg', -1.25), ('float-big', 1e300), ('float-tiny', 5e-324),
        ('float-inf', float('inf')), ('float-neginf', float('-inf')), ('float-pi', 3.141592653589793),
        ('str-empty', ''), ('str-a', 'a'), ('str-latin', 'é'), ('str-cjk', '日本語'), ('str-emoji', '😀 ok'),
        ('str-255', 'x' * 255), ('str-256', 'y' * 256),
        ('str-lone-surrogate', 'a\ud800b'), ('str-nul', 'a\x00b'),
        ('bytes-empty', b''), ('bytes-small', b'\x00\xff\x80'), ('bytes-300', bytes(range(256)) + b'q' * 44),
        ('bytearray', bytearray(b'ab')),
        ('list-empty', []), ('list-1', [1]), ('list-3', [1, 'two', None]),
        ('list-nested', [[1, [2, [3, []]]]]),
        ('tuple-empty', ()), ('tuple-1', (1,)), ('tuple-2', (1, 'b')), ('tuple-3', (1, 2, 3)),
        ('tuple-4', (1, 2, 3, 4)), ('tuple-nested', ((1,), [(2, 3)])),
        ('dict-empty', {}), ('dict-1', {'a': 1}), ('dict-2', {'a': 1, 'b': [1, 2]}),
        ('dict-int-keys', {1: 'a', 2: 'b'}), ('dict-bool-none-keys', {True: 1, None: 2}),
        ('dict-proto-key', {'__proto__': {'polluted': True}}),
        ('set-small', {1, 2, 3}), ('frozenset', frozenset({7})), ('set-empty', set()),
        ('celery-failure', {'exc_type': 'ValueError', 'exc_message': ('boom', 42), 'exc_module': 'builtins'}),
        ('celery-revoked', {'exc_type': 'TaskRevokedError', 'exc_message': ('revoked',),
                            'exc_module': 'celery.exceptions'}),
        ('celery-started', {'pid': 1234, 'hostname': 'w1@host'}),
        ('shared-list', shared),
        ('deep-50', _deep(50)),
    ]


# Large values (frames of 64 KiB, strs and bytes written outside frames, full batches of 1,000): only the hash of
# what Python writes is committed. test/golden/pickle.test.ts builds the same values (BIG there) and compares.
BIG = {
    'str-70000': lambda: 'z' * 70000,
    'bytes-70000': lambda: b'w' * 70000,
    'list-1000': lambda: list(range(1000)),
    'list-1001': lambda: list(range(1001)),
    'list-2500': lambda: list(range(2500)),
    'dict-1000': lambda: {f'k{i}': i for i in range(1000)},
    'dict-1001': lambda: {f'k{i}': i for i in range(1001)},
    'frames-list': lambda: [f'item-{i}' for i in range(6000)],
    'frames-dict': lambda: {f'key-{i}': 'v' * (2 + i % 50) for i in range(2000)},
    'frames-mixed': lambda: ['a' * 40000, 'b' * 65536, [1, 2], b'c' * 65536, 'd' * 30000, {'e': 'f' * 65535}],
}


def _deep(n):
    value = []
    for _ in range(n):
        value = [value]
    return value


def refused_cases():
    class Point:
        pass
    loop = []
    loop.append(loop)
    d = {}
    d['self'] = d
    return [
        ('datetime', datetime.datetime(2024, 1, 2, 3, 4, 5)), ('decimal', decimal.Decimal('1.5')),
        ('ordered-dict', OrderedDict(a=1)), ('exception', ValueError('x')), ('complex', 1 + 2j),
        ('recursive-list', loop), ('recursive-dict', d),
    ]


def main():
    out = {'python': sys.version.split()[0], 'cases': [], 'refused': []}
    for name, value in cases():
        pickles = []
        for protocol in range(6):
            data = pickle.dumps(value, protocol=protocol)
            ops = opcodes(data)
            pickles.append({'protocol': protocol, 'hex': data.hex(), 'refused': bool(ops & REFUSED),
                            'canonical': not (ops & GETS)})
        out['cases'].append({'name': name, 'value': tag(value, False), 'input': tag(value, True),
                             'pickles': pickles})
    out['big'] = []
    for name, make in BIG.items():
        value = make()
        out['big'].append({'name': name, 'pickles': [
            {'protocol': p, 'sha256': hashlib.sha256(pickle.dumps(value, protocol=p)).hexdigest(),
             'length': len(pickle.dumps(value, protocol=p))} for p in (4, 5)]})
    for name, value in refused_cases():
        try:
            data = pickle.dumps(value, protocol=4)
        except Exception:  # a local class cannot be pickled; nothing to record
            continue
        out['refused'].append({'name': name, 'hex': data.hex()})
    with open('test/golden/fixtures/pickle.json', 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
