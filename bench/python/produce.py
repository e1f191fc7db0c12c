"""Timed producer loops for the benchmark; prints one JSON object on stdout.

  produce.py enqueue N      N awaited apply_async calls (each returns once the broker has the message)
  produce.py bulk N         one group of N signatures, group.apply_async()
  produce.py latency N      N sequential delay() -> get() round trips against a running worker
  produce.py chord N        chord(N noop headers)(tsum), get() the body's result, against a running worker

Warm-up calls (connection set-up, first declarations) run before the clock starts and are not counted.
"""
import json
import sys
import time

from celery import chord, group

from bench_app import app, noop, tsum

WARMUP = 50


def enqueue(n):
    for i in range(WARMUP):
        noop.apply_async((i,))
    start = time.perf_counter()
    for i in range(n):
        noop.apply_async((i,))
    return {'seconds': time.perf_counter() - start}


def bulk(n):
    group(noop.s(i) for i in range(WARMUP)).apply_async()
    start = time.perf_counter()
    group(noop.s(i) for i in range(n)).apply_async()
    return {'seconds': time.perf_counter() - start}


def latency(n):
    ids = []
    for i in range(WARMUP):
        r = noop.delay(i)
        r.get(timeout=30)
        ids.append(r.id)
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        r = noop.delay(i)
        r.get(timeout=30)
        samples.append((time.perf_counter() - t0) * 1000)
        ids.append(r.id)
    return {'ms': samples, 'ids': ids}


def run_chord(n):
    warm = chord(noop.s(i) for i in range(10))(tsum.s())
    warm.get(timeout=60)
    start = time.perf_counter()
    result = chord(noop.s(i) for i in range(n))(tsum.s())
    value = result.get(timeout=300)
    seconds = time.perf_counter() - start
    expected = n * (n - 1) // 2
    if value != expected:
        raise SystemExit(f'chord body returned {value}, expected {expected}')
    ids = [warm.id, result.id] + [r.id for r in warm.parent.results] + [r.id for r in result.parent.results]
    return {'seconds': seconds, 'ids': ids, 'groups': [warm.parent.id, result.parent.id]}


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    out = {'enqueue': enqueue, 'bulk': bulk, 'latency': latency, 'chord': run_chord}[mode](n)
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
