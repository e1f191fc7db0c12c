"""Sends a canvas from Python Celery 5.2.6 and prints its result as JSON, for the canvas interop tests.

  canvas.py chord N        chord(group(add.s(i, i) for i in range(N)), tsum.s()) -> sum
  canvas.py chain PYQ TSQ  chain(pydouble.s(1) @PYQ, tsinc.s() @TSQ, pydouble.s() @PYQ, tsinc.s() @TSQ) -> 7
                           (interop.tsinc exists only on the TypeScript side: it is sent by name)
  canvas.py chordfail      chord([add.s(1, 1), fail.s('boom'), add.s(2, 2)], tsum.s()) -> ChordError
  canvas.py get ID         waits for a result sent by the TypeScript side

Prints {"id": ..., "result": ...} or {"id": ..., "error": {"type", "message"}}.
"""
import json
import sys

from celery import chain, chord, group, signature

from interop_app import add, app, fail, pydouble, tsum

TIMEOUT = 60


def run(result):
    try:
        return {'id': result.id, 'result': result.get(timeout=TIMEOUT)}
    except Exception as exc:  # noqa: BLE001 - the test wants the failure as data
        return {'id': result.id, 'error': {'type': type(exc).__name__, 'message': str(exc)}}


def main():
    command = sys.argv[1]
    if command == 'chord':
        size = int(sys.argv[2])
        result = chord(group(add.s(i, i) for i in range(size)), tsum.s()).apply_async()
    elif command == 'chordfail':
        result = chord([add.s(1, 1), fail.s('boom'), add.s(2, 2)], tsum.s()).apply_async()
    elif command == 'chain':
        pyq, tsq = sys.argv[2], sys.argv[3]
        tsinc = signature('interop.tsinc', app=app)
        result = chain(
            pydouble.s(1).set(queue=pyq),
            tsinc.clone().set(queue=tsq),
            pydouble.s().set(queue=pyq),
            tsinc.clone().set(queue=tsq),
        ).apply_async()
    elif command == 'get':
        result = app.AsyncResult(sys.argv[2])
    else:
        raise SystemExit(f'unknown command {command!r}: use chord, chain or get')
    json.dump(run(result), sys.stdout)


if __name__ == '__main__':
    main()
